//! The annual-plan service's conversions: issuing a year's tasks, reporting progress and completing
//! a task, and the plan as `GetAnnualPlanResponse`.

use kcn_domain::annual_plan::{AnnualPlan, AnnualPlanCommand, AnnualTask, TaskProgressReported};
use kcn_domain::values::{Percent, ReportYear, Text, ValueError, max_chars, max_items};
use uuid::Uuid;

use super::Command;
use crate::fields::{self, Fields, optional, optional_text};
use crate::proto;

type Cmd = Command<AnnualPlan>;

/// Parses one task of a request, naming its fields `tasks[i].<field>`.
fn task(f: &mut Fields, at: &str, t: &proto::AnnualTask) -> Option<AnnualTask> {
    let field = |name: &str| format!("{at}.{name}");
    let id = f.check(&field("task_id"), Text::code(&t.task_id));
    let title = f.check(&field("title"), Text::name(&t.title));
    let description = f.check(
        &field("description"),
        t.description
            .as_deref()
            .map(|d| Text::parse(d, max_chars::TASK_DESCRIPTION))
            .transpose(),
    );
    let assignee = f.check(
        &field("assignee_company_id"),
        fields::uuid(&t.assignee_company_id),
    );
    let park_id = f.check(
        &field("park_id"),
        optional(t.park_id.as_deref().unwrap_or_default(), fields::uuid),
    );
    let due_on = f.check(&field("due_on"), fields::date(&t.due_on));
    Some(AnnualTask {
        task_id: id?,
        title: title?,
        description: description?,
        assignee_company_id: assignee?,
        park_id: park_id?,
        due_on: due_on?,
    })
}

fn task_to_proto(t: &AnnualTask) -> proto::AnnualTask {
    proto::AnnualTask {
        task_id: t.task_id.to_string(),
        title: t.title.to_string(),
        description: t.description.as_ref().map(ToString::to_string),
        assignee_company_id: t.assignee_company_id.to_string(),
        park_id: t.park_id.map(|p| p.to_string()),
        due_on: t.due_on.to_string(),
    }
}

pub fn issue(r: proto::IssueAnnualTasksRequest, f: &mut Fields) -> Option<Cmd> {
    let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
    let year = f.check("year", ReportYear::parse(r.year));
    let issued_on = f.check("issued_on", fields::optional_date(&r.issued_on));
    let document_no = f.check(
        "document_no",
        optional_text(&r.document_no, max_chars::NUMBER),
    );
    let tasks = f.list("tasks", &r.tasks, (1, max_items::TASKS), task);
    let (authority_id, year, issued_on) = (authority_id?, year?.get(), issued_on?);
    let (document_no, tasks) = (document_no?, tasks?);
    Some(Cmd::new(move |plan_id, occurred_at| {
        AnnualPlanCommand::Issue {
            plan_id,
            occurred_at,
            authority_id,
            year,
            issued_on,
            document_no: document_no.clone(),
            tasks: tasks.clone(),
        }
    }))
}

pub fn report_progress(r: proto::ReportTaskProgressRequest, f: &mut Fields) -> Option<Cmd> {
    let id = f.check("plan_id", fields::uuid(&r.plan_id));
    let task_id = f.check("task_id", Text::code(&r.task_id));
    let percent = f.check("percent", Percent::parse(r.percent));
    let note = f.check("note", optional_text(&r.note, max_chars::NOTE));
    let quarter = f.check(
        "quarter",
        match r.quarter {
            0 => Ok(None),
            q @ 1..=4 => Ok(Some(q)),
            _ => Err(ValueError("must be 1 to 4 (or 0 for none)".to_owned())),
        },
    );
    let event = TaskProgressReported {
        task_id: task_id?,
        percent: percent?.get(),
        note: note?,
        quarter: quarter?,
    };
    Some(Cmd::on(id?, move |plan_id, occurred_at| {
        AnnualPlanCommand::ReportProgress {
            plan_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn complete(r: proto::CompleteTaskRequest, f: &mut Fields) -> Option<Cmd> {
    let id = f.check("plan_id", fields::uuid(&r.plan_id));
    let task_id = f.check("task_id", Text::code(&r.task_id));
    let completed_on = f.check("completed_on", fields::optional_date(&r.completed_on));
    let note = f.check("note", optional_text(&r.note, max_chars::NOTE));
    let (task_id, completed_on, note) = (task_id?, completed_on?, note?);
    Some(Cmd::on(id?, move |plan_id, occurred_at| {
        AnnualPlanCommand::Complete {
            plan_id,
            occurred_at,
            task_id: task_id.clone(),
            completed_on,
            note: note.clone(),
        }
    }))
}

/// The plan as the wire's answer.
pub fn plan(id: Uuid, p: &AnnualPlan, version: u64) -> proto::GetAnnualPlanResponse {
    proto::GetAnnualPlanResponse {
        plan_id: id.to_string(),
        version,
        authority_id: p.authority_id.map(|a| a.to_string()).unwrap_or_default(),
        year: p.year,
        issued_on: p.issued_on.map(|d| d.to_string()).unwrap_or_default(),
        document_no: p
            .document_no
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        tasks: p
            .tasks
            .iter()
            .map(|t| proto::AnnualTaskStatus {
                task: Some(task_to_proto(&t.task)),
                percent: t.percent,
                reports: t.reports,
                quarters_reported: t.quarters_reported.clone(),
                completed_on: t.completed_on.map(|d| d.to_string()).unwrap_or_default(),
            })
            .collect(),
    }
}
