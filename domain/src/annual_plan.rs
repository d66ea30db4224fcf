//! The AnnualPlan aggregate: the tasks the Board issues to the infrastructure companies for a year,
//! the progress the companies report on each, and their completion, judged against each task's due
//! date.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agreement::act_date;
use crate::deps::{Breach, LegalRules};
use crate::event::{
    AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_day, not_before_its,
};
use crate::information_exchange::OrganisationRef;
use crate::limits;
use crate::scope::Acting;
use crate::time::local_date;
use crate::values::Text;
use crate::{Deps, DomainError, events};

/// One task of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnualTask {
    /// The Board's identifier for the task, unique within the plan (`T-2025-03`).
    pub task_id: Text,
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    /// The infrastructure company the task is assigned to.
    pub assignee_company_id: Uuid,
    /// The park the task is about, when it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub park_id: Option<Uuid>,
    /// The last local date on which completion is on time.
    pub due_on: NaiveDate,
}

/// `AnnualTasksIssued`: the Board issues the year's tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnualTasksIssued {
    pub authority_id: Uuid,
    pub year: u32,
    /// The local date of issue; always the local date of the event's `occurred_at`.
    pub issued_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_no: Option<Text>,
    pub tasks: Vec<AnnualTask>,
}
impl EventPayload for AnnualTasksIssued {}

/// `TaskProgressReported`: the assignee reports how far a task has come.
///
/// Version 2 adds `quarter`: a report that names a quarter of the plan's year is the quarterly
/// report the coordination agreement asks for, due on its `quarterly_report_due_day` of the month
/// after the quarter. A version-1 report names none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskProgressReported {
    pub task_id: Text,
    /// 0 to 100, never less than the previous report.
    pub percent: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
    /// The quarter (1–4) of the plan's year this report covers, when it is a quarterly report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarter: Option<u32>,
}

impl EventPayload for TaskProgressReported {
    const SCHEMA_VERSION: u32 = 2;
}

/// `TaskCompleted`: the task is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCompleted {
    pub task_id: Text,
    /// The local date of completion; always the local date of the event's `occurred_at`.
    pub completed_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}
impl EventPayload for TaskCompleted {}

events!(
    /// Events of an annual plan.
    AnnualPlanEvent {
        AnnualTasksIssued,
        TaskProgressReported,
        TaskCompleted,
    }
);

/// Commands on an annual plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AnnualPlanCommand {
    Issue {
        plan_id: Uuid,
        occurred_at: DateTime<Utc>,
        authority_id: Uuid,
        year: u32,
        /// When given, it must be the local date of `occurred_at`.
        issued_on: Option<NaiveDate>,
        document_no: Option<Text>,
        tasks: Vec<AnnualTask>,
    },
    ReportProgress {
        plan_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: TaskProgressReported,
    },
    Complete {
        plan_id: Uuid,
        occurred_at: DateTime<Utc>,
        task_id: Text,
        /// When given, it must be the local date of `occurred_at`.
        completed_on: Option<NaiveDate>,
        note: Option<Text>,
    },
}

/// Where one task stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskState {
    pub task: AnnualTask,
    pub percent: u32,
    pub reports: u32,
    pub completed_on: Option<NaiveDate>,
    /// The quarters a quarterly report has covered, each once, in the order first reported.
    #[serde(default)]
    pub quarters_reported: Vec<u32>,
}

/// A plan's current state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct AnnualPlan {
    pub authority_id: Option<Uuid>,
    pub year: u32,
    pub issued_on: Option<NaiveDate>,
    pub document_no: Option<Text>,
    pub tasks: Vec<TaskState>,
    pub latest: Option<DateTime<Utc>>,
    /// The business time of the record's first event, which every later one follows.
    #[serde(default)]
    pub opened_at: Option<DateTime<Utc>>,
}

impl AnnualPlan {
    /// Finds an issued task for a step on it, refusing unknown and completed ones.
    fn open_task(
        &self,
        plan_id: Uuid,
        occurred_at: DateTime<Utc>,
        task_id: &Text,
        step: &str,
    ) -> Result<&TaskState, DomainError> {
        if self.authority_id.is_none() {
            return Err(DomainError::NotFound {
                kind: AggregateKind::AnnualPlan,
                id: plan_id,
            });
        }
        not_before_its(self.opened_at, occurred_at, step, "the tasks' issue")?;
        let Some(task) = self.tasks.iter().find(|t| &t.task.task_id == task_id) else {
            return Err(DomainError::rule(
                "unknown_task",
                format!("the plan has no task {task_id}"),
            ));
        };
        if let Some(done) = task.completed_on {
            return Err(DomainError::rule(
                "task_already_completed",
                format!("task {task_id} was completed on {done}; {step} is no longer possible"),
            ));
        }
        Ok(task)
    }

    fn task(&self, task_id: &Text) -> Option<&TaskState> {
        self.tasks.iter().find(|t| &t.task.task_id == task_id)
    }
}

impl Aggregate for AnnualPlan {
    const TYPE: &'static str = "AnnualPlan";
    type Command = AnnualPlanCommand;
    type Event = Timed<AnnualPlanEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: AnnualPlanCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let (occurred_at, body): (_, AnnualPlanEvent) = match command {
            AnnualPlanCommand::Issue {
                plan_id,
                occurred_at,
                authority_id,
                year,
                issued_on,
                document_no,
                tasks,
            } => {
                if self.authority_id.is_some() {
                    return Err(DomainError::AlreadyExists {
                        kind: AggregateKind::AnnualPlan,
                        id: plan_id,
                    });
                }
                let issued_on = act_date("issued_on", issued_on, occurred_at)?;
                // A plan is issued late in the year before, or during its own year.
                let issue_year = i64::from(issued_on.year());
                if !(issue_year..=issue_year + 1).contains(&i64::from(year)) {
                    return Err(DomainError::invalid(
                        "year",
                        format!(
                            "a plan issued on {issued_on} is for {issue_year} or the year after"
                        ),
                    ));
                }
                if tasks.is_empty() {
                    return Err(DomainError::invalid("tasks", "at least one task is issued"));
                }
                let mut seen = HashSet::new();
                if let Some(dup) = tasks.iter().find(|t| !seen.insert(&t.task_id)) {
                    return Err(DomainError::invalid(
                        "tasks.task_id",
                        format!("task_id {} appears twice", dup.task_id),
                    ));
                }
                if let Some(early) = tasks.iter().find(|t| t.due_on < issued_on) {
                    return Err(DomainError::invalid(
                        "tasks.due_on",
                        format!(
                            "task {} is due on {}, before the plan is issued",
                            early.task_id, early.due_on
                        ),
                    ));
                }
                deps.require_in_office(
                    "authority_id",
                    authority_id,
                    issued_on,
                    "annual tasks issued",
                )
                .await?;
                for t in &tasks {
                    deps.require(
                        "tasks.assignee_company_id",
                        AggregateKind::InfrastructureCompany,
                        t.assignee_company_id,
                    )
                    .await?;
                    if let Some(park) = t.park_id {
                        deps.require("tasks.park_id", AggregateKind::Park, park)
                            .await?;
                    }
                }
                let event = AnnualTasksIssued {
                    authority_id,
                    year,
                    issued_on,
                    document_no,
                    tasks,
                };
                (occurred_at, event.into())
            }
            AnnualPlanCommand::ReportProgress {
                plan_id,
                occurred_at,
                event,
            } => {
                let task = self.open_task(plan_id, occurred_at, &event.task_id, "progress")?;
                if event.percent > 100 {
                    return Err(DomainError::invalid("percent", "must be from 0 to 100"));
                }
                if let Some(quarter) = event.quarter {
                    let year = i32::try_from(self.year).unwrap_or(i32::MAX);
                    let Some((first, _)) = limits::quarter_bounds(year, quarter) else {
                        return Err(DomainError::invalid("quarter", "must be from 1 to 4"));
                    };
                    // A report on a quarter cannot come before the quarter begins.
                    not_before_day(
                        Some(first),
                        local_date(occurred_at),
                        "a quarterly report",
                        &format!("the first day of Q{quarter} {year}"),
                    )?;
                }
                if event.percent < task.percent {
                    return Err(DomainError::rule(
                        "progress_decreases",
                        format!(
                            "task {} was reported at {}%; progress does not go back to {}%",
                            event.task_id, task.percent, event.percent
                        ),
                    ));
                }
                (occurred_at, event.into())
            }
            AnnualPlanCommand::Complete {
                plan_id,
                occurred_at,
                task_id,
                completed_on,
                note,
            } => {
                self.open_task(plan_id, occurred_at, &task_id, "completion")?;
                let completed_on = act_date("completed_on", completed_on, occurred_at)?;
                let event = TaskCompleted {
                    task_id,
                    completed_on,
                    note,
                };
                (occurred_at, event.into())
            }
        };
        sink.write(Timed { occurred_at, body }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Timed<AnnualPlanEvent>) {
        self.latest = self.latest.max(Some(event.occurred_at));
        self.opened_at = self.opened_at.or(Some(event.occurred_at));
        match event.body {
            AnnualPlanEvent::AnnualTasksIssued(e) => {
                self.authority_id = Some(e.authority_id);
                self.year = e.year;
                self.issued_on = Some(e.issued_on);
                self.document_no = e.document_no;
                self.tasks = e
                    .tasks
                    .into_iter()
                    .map(|task| TaskState {
                        task,
                        percent: 0,
                        reports: 0,
                        completed_on: None,
                        quarters_reported: Vec::new(),
                    })
                    .collect();
            }
            AnnualPlanEvent::TaskProgressReported(e) => {
                if let Some(t) = self.tasks.iter_mut().find(|t| t.task.task_id == e.task_id) {
                    t.percent = e.percent;
                    t.reports += 1;
                    if let Some(q) = e.quarter
                        && !t.quarters_reported.contains(&q)
                    {
                        t.quarters_reported.push(q);
                    }
                }
            }
            AnnualPlanEvent::TaskCompleted(e) => {
                if let Some(t) = self.tasks.iter_mut().find(|t| t.task.task_id == e.task_id) {
                    t.percent = 100;
                    t.completed_on = Some(e.completed_on);
                }
            }
        }
    }
}

impl LedgerAggregate for AnnualPlan {
    type Body = AnnualPlanEvent;
    const KIND: AggregateKind = AggregateKind::AnnualPlan;

    /// A plan spans every park of the authority; its tasks name their own parks.
    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        None
    }

    /// The issuing authority issues and completes tasks; a task's assignee reports its progress,
    /// on the task's park when it names one.
    fn acting_for(&self, _id: Uuid, new: &[Timed<AnnualPlanEvent>]) -> Acting {
        let Some(authority) = self.authority_id else {
            return Acting::default();
        };
        let board = OrganisationRef::authority(authority);
        if new.is_empty() {
            let mut parties = vec![board];
            parties.extend(
                self.tasks
                    .iter()
                    .map(|t| OrganisationRef::company(t.task.assignee_company_id)),
            );
            return Acting::parties(parties, None);
        }
        let reported = new.iter().find_map(|e| match &e.body {
            AnnualPlanEvent::TaskProgressReported(p) => Some(&p.task_id),
            _ => None,
        });
        match reported.and_then(|id| self.tasks.iter().find(|t| t.task.task_id == *id)) {
            Some(t) => Acting::parties(
                vec![OrganisationRef::company(t.task.assignee_company_id)],
                t.task.park_id,
            )
            .acting_authority(authority),
            None => Acting::parties(vec![board], None),
        }
    }

    /// A task completed after its due date (local dates) is recorded and named.
    fn judge(&self, new: &[Timed<AnnualPlanEvent>], _rules: &LegalRules) -> Vec<Breach> {
        new.iter()
            .filter_map(|e| match &e.body {
                AnnualPlanEvent::TaskCompleted(c) => limits::task_completed_late(
                    c.task_id.as_str(),
                    self.task(&c.task_id)?.task.due_on,
                    c.completed_on,
                ),
                _ => None,
            })
            .collect()
    }

    fn judged_against_agreements(new: &[Timed<AnnualPlanEvent>]) -> bool {
        new.iter().any(
            |e| matches!(&e.body, AnnualPlanEvent::TaskProgressReported(p) if p.quarter.is_some()),
        )
    }

    /// A quarterly report filed after the `quarterly_report_due_day` of the agreement governing the
    /// plan's authority and the task's assignee on the quarter's last day; only the first report
    /// on a quarter answers for it, and none is judged where no agreement sets the day.
    fn judge_against_agreements(
        &self,
        new: &[Timed<AnnualPlanEvent>],
        _rules: &LegalRules,
        agreements: &crate::agreement::AgreementsInForce,
    ) -> Vec<Breach> {
        let (Some(authority), Ok(year)) = (self.authority_id, i32::try_from(self.year)) else {
            return Vec::new();
        };
        new.iter()
            .filter_map(|e| match &e.body {
                AnnualPlanEvent::TaskProgressReported(p) => {
                    let quarter = p.quarter?;
                    let task = self.task(&p.task_id)?;
                    if task.quarters_reported.contains(&quarter) {
                        return None;
                    }
                    let (_, last) = limits::quarter_bounds(year, quarter)?;
                    let (_, _, levels) = agreements.governing_between(
                        authority,
                        task.task.assignee_company_id,
                        last,
                    )?;
                    limits::quarterly_report_late(
                        p.task_id.as_str(),
                        year,
                        quarter,
                        levels.quarterly_report_due_day?,
                        local_date(e.occurred_at),
                    )
                }
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{at, deps_with, id, no_deps};

    const BOARD: u64 = 1;
    const COMPANY: u64 = 2;
    const PARK: u64 = 10;
    const PLAN: u64 = 60;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn text(s: &str) -> Text {
        Text::name(s).unwrap()
    }

    fn task(task_id: &str, due: &str) -> AnnualTask {
        AnnualTask {
            task_id: text(task_id),
            title: text("Connect the wastewater plant to automatic monitoring"),
            description: None,
            assignee_company_id: id(COMPANY),
            park_id: Some(id(PARK)),
            due_on: date(due),
        }
    }

    fn issue(tasks: Vec<AnnualTask>) -> AnnualPlanCommand {
        AnnualPlanCommand::Issue {
            plan_id: id(PLAN),
            occurred_at: at("2025-01-10T02:00:00Z"),
            authority_id: id(BOARD),
            year: 2025,
            issued_on: None,
            document_no: None,
            tasks,
        }
    }

    fn issued() -> Timed<AnnualPlanEvent> {
        Timed::new(
            at("2025-01-10T02:00:00Z"),
            AnnualTasksIssued {
                authority_id: id(BOARD),
                year: 2025,
                issued_on: date("2025-01-10"),
                document_no: None,
                tasks: vec![task("T-1", "2025-06-30"), task("T-2", "2025-09-30")],
            },
        )
    }

    fn progress(task_id: &str, percent: u32, when: &str) -> AnnualPlanCommand {
        AnnualPlanCommand::ReportProgress {
            plan_id: id(PLAN),
            occurred_at: at(when),
            event: TaskProgressReported {
                task_id: text(task_id),
                percent,
                note: None,
                quarter: None,
            },
        }
    }

    fn reported(task_id: &str, percent: u32, when: &str) -> Timed<AnnualPlanEvent> {
        Timed::new(
            at(when),
            TaskProgressReported {
                task_id: text(task_id),
                percent,
                note: None,
                quarter: None,
            },
        )
    }

    fn complete(task_id: &str, when: &str) -> AnnualPlanCommand {
        AnnualPlanCommand::Complete {
            plan_id: id(PLAN),
            occurred_at: at(when),
            task_id: text(task_id),
            completed_on: None,
            note: None,
        }
    }

    fn completed(task_id: &str, when: &str, on: &str) -> Timed<AnnualPlanEvent> {
        Timed::new(
            at(when),
            TaskCompleted {
                task_id: text(task_id),
                completed_on: date(on),
                note: None,
            },
        )
    }

    fn rule_of<T: std::fmt::Debug>(result: Result<T, DomainError>) -> &'static str {
        match result {
            Err(DomainError::Rule { rule, .. }) => rule,
            other => panic!("expected a rule violation, got {other:?}"),
        }
    }

    fn parties() -> Deps {
        deps_with(&[
            (AggregateKind::Authority, id(BOARD)),
            (AggregateKind::InfrastructureCompany, id(COMPANY)),
            (AggregateKind::Park, id(PARK)),
        ])
    }

    #[test]
    fn the_board_issues_the_years_tasks() {
        TestFramework::<AnnualPlan>::with(parties())
            .given_no_previous_events()
            .when(issue(vec![
                task("T-1", "2025-06-30"),
                task("T-2", "2025-09-30"),
            ]))
            .then_expect_events(vec![issued()]);
    }

    #[test]
    fn task_ids_are_unique_within_a_plan() {
        let result = TestFramework::<AnnualPlan>::with(parties())
            .given_no_previous_events()
            .when(issue(vec![
                task("T-1", "2025-06-30"),
                task("T-1", "2025-09-30"),
            ]))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "tasks.task_id",
                ..
            })
        ));
    }

    #[test]
    fn a_task_for_an_unknown_company_is_refused() {
        let deps = deps_with(&[(AggregateKind::Authority, id(BOARD))]);
        let result = TestFramework::<AnnualPlan>::with(deps)
            .given_no_previous_events()
            .when(issue(vec![task("T-1", "2025-06-30")]))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "tasks.assignee_company_id",
                ..
            })
        ));
    }

    #[test]
    fn progress_is_reported_only_for_issued_tasks() {
        let result = TestFramework::<AnnualPlan>::with(no_deps())
            .given(vec![issued()])
            .when(progress("T-9", 10, "2025-03-01T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "unknown_task");
    }

    #[test]
    fn progress_never_decreases() {
        let result = TestFramework::<AnnualPlan>::with(no_deps())
            .given(vec![issued(), reported("T-1", 60, "2025-03-01T02:00:00Z")])
            .when(progress("T-1", 40, "2025-04-01T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "progress_decreases");
        TestFramework::<AnnualPlan>::with(no_deps())
            .given(vec![issued(), reported("T-1", 60, "2025-03-01T02:00:00Z")])
            .when(progress("T-1", 60, "2025-04-01T02:00:00Z"))
            .then_expect_events(vec![reported("T-1", 60, "2025-04-01T02:00:00Z")]);
    }

    #[test]
    fn progress_above_one_hundred_percent_is_invalid() {
        let result = TestFramework::<AnnualPlan>::with(no_deps())
            .given(vec![issued()])
            .when(progress("T-1", 101, "2025-03-01T02:00:00Z"))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "percent",
                ..
            })
        ));
    }

    #[test]
    fn nothing_is_reported_on_a_completed_task() {
        let given = vec![
            issued(),
            completed("T-1", "2025-06-01T02:00:00Z", "2025-06-01"),
        ];
        let result = TestFramework::<AnnualPlan>::with(no_deps())
            .given(given.clone())
            .when(progress("T-1", 100, "2025-06-02T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "task_already_completed");
        let result = TestFramework::<AnnualPlan>::with(no_deps())
            .given(given)
            .when(complete("T-1", "2025-06-02T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "task_already_completed");
    }

    #[test]
    fn a_completion_on_the_due_date_is_on_time() {
        TestFramework::<AnnualPlan>::with(no_deps())
            .given(vec![issued()])
            // 2025-06-30T16:59Z is still 30 June in Vietnam.
            .when(complete("T-1", "2025-06-30T16:59:00Z"))
            .then_expect_events(vec![completed("T-1", "2025-06-30T16:59:00Z", "2025-06-30")]);
        let mut plan = AnnualPlan::default();
        plan.apply(issued());
        let breaches = plan.judge(
            &[completed("T-1", "2025-06-30T16:59:00Z", "2025-06-30")],
            &LegalRules::default(),
        );
        assert!(breaches.is_empty());
    }

    #[test]
    fn a_late_completion_is_accepted_and_judged() {
        TestFramework::<AnnualPlan>::with(no_deps())
            .given(vec![issued()])
            .when(complete("T-1", "2025-06-30T17:00:00Z"))
            .then_expect_events(vec![completed("T-1", "2025-06-30T17:00:00Z", "2025-07-01")]);
        let mut plan = AnnualPlan::default();
        plan.apply(issued());
        // 2025-06-30T17:00Z is 1 July in Vietnam: a day late.
        let breaches = plan.judge(
            &[completed("T-1", "2025-06-30T17:00:00Z", "2025-07-01")],
            &LegalRules::default(),
        );
        assert_eq!(breaches.len(), 1);
        assert_eq!(breaches[0].limit, "task_completed_late");
    }

    #[test]
    fn a_plan_for_a_distant_year_is_invalid() {
        let mut command = issue(vec![task("T-1", "2025-06-30")]);
        if let AnnualPlanCommand::Issue { year, .. } = &mut command {
            *year = 2030;
        }
        let result = TestFramework::<AnnualPlan>::with(parties())
            .given_no_previous_events()
            .when(command)
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::Invalid { field: "year", .. })
        ));
    }

    #[test]
    fn progress_before_the_issue_is_refused() {
        let result = TestFramework::<AnnualPlan>::with(no_deps())
            .given(vec![issued()])
            .when(progress("T-1", 10, "2025-01-01T02:00:00Z"))
            .inspect_result();
        assert_eq!(rule_of(result), "business_time_goes_back");
    }
}
