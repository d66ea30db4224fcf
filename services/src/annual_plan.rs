//! The annual-plan service: the Board issues the year's tasks, the companies report progress on them
//! and complete them; a late completion is accepted and its breach named.

use kcn_domain::annual_plan::{AnnualPlan, AnnualPlanCommand, AnnualTask, TaskProgressReported};
use kcn_domain::values::{Text, ValueError};
use kcn_eventstore::Target;
use tonic::{Request, Response, Status};

use crate::fields::{self, Fields, optional_text};
use crate::proto::{self, annual_plan_service_server::AnnualPlanService};
use crate::{Ledger, take};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct AnnualPlans(pub Ledger);

/// A task's identifier: 1 to 64 characters.
fn task_id(raw: &str) -> Result<Text, ValueError> {
    Text::parse(raw, 64)
}

/// Parses one task of a request, naming its fields `tasks[i].<field>`.
fn task(f: &mut Fields, i: usize, t: &proto::AnnualTask) -> Option<AnnualTask> {
    let field = |name: &str| format!("tasks[{i}].{name}");
    let id = f.check(&field("task_id"), task_id(&t.task_id));
    let title = f.check(&field("title"), Text::name(&t.title));
    let description = f.check(
        &field("description"),
        t.description
            .as_deref()
            .map(|d| Text::parse(d, 5_000))
            .transpose(),
    );
    let assignee = f.check(
        &field("assignee_company_id"),
        fields::uuid(&t.assignee_company_id),
    );
    let park_id = f.check(
        &field("park_id"),
        fields::optional_uuid(t.park_id.as_deref().unwrap_or_default()),
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

#[tonic::async_trait]
impl AnnualPlanService for AnnualPlans {
    async fn issue_annual_tasks(
        &self,
        request: Request<proto::IssueAnnualTasksRequest>,
    ) -> Result<Response<proto::IssueAnnualTasksResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
        let issued_on = f.check("issued_on", fields::optional_date(&r.issued_on));
        let document_no = f.check("document_no", optional_text(&r.document_no, 100));
        if !(1990..=9998).contains(&r.year) {
            f.violation("year", "must be a calendar year from 1990");
        }
        if r.tasks.is_empty() {
            f.violation("tasks", "at least one task is issued");
        }
        if r.tasks.len() > 500 {
            f.violation("tasks", "at most 500 tasks");
        }
        let tasks: Vec<AnnualTask> = r
            .tasks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| task(&mut f, i, t))
            .collect();
        f.finish()?;
        take!(header, authority_id, issued_on, document_no);
        let (occurred_at, year) = (header.occurred_at, r.year);
        let o = self
            .0
            .run::<AnnualPlan, _>(Target::New, header, move |plan_id| {
                AnnualPlanCommand::Issue {
                    plan_id,
                    occurred_at,
                    authority_id,
                    year,
                    issued_on,
                    document_no: document_no.clone(),
                    tasks: tasks.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::IssueAnnualTasksResponse {
            outcome: Some(o),
        }))
    }

    async fn report_task_progress(
        &self,
        request: Request<proto::ReportTaskProgressRequest>,
    ) -> Result<Response<proto::ReportTaskProgressResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let plan_id = f.check("plan_id", fields::uuid(&r.plan_id));
        let task_id = f.check("task_id", task_id(&r.task_id));
        let note = f.check("note", optional_text(&r.note, 2_000));
        f.finish()?;
        take!(header, plan_id, task_id, note);
        let occurred_at = header.occurred_at;
        let event = TaskProgressReported {
            task_id,
            percent: r.percent,
            note,
        };
        let o = self
            .0
            .run::<AnnualPlan, _>(Target::Existing(plan_id), header, move |plan_id| {
                AnnualPlanCommand::ReportProgress {
                    plan_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::ReportTaskProgressResponse {
            outcome: Some(o),
        }))
    }

    async fn complete_task(
        &self,
        request: Request<proto::CompleteTaskRequest>,
    ) -> Result<Response<proto::CompleteTaskResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let plan_id = f.check("plan_id", fields::uuid(&r.plan_id));
        let task_id = f.check("task_id", task_id(&r.task_id));
        let completed_on = f.check("completed_on", fields::optional_date(&r.completed_on));
        let note = f.check("note", optional_text(&r.note, 2_000));
        f.finish()?;
        take!(header, plan_id, task_id, completed_on, note);
        let occurred_at = header.occurred_at;
        let o = self
            .0
            .run::<AnnualPlan, _>(Target::Existing(plan_id), header, move |plan_id| {
                AnnualPlanCommand::Complete {
                    plan_id,
                    occurred_at,
                    task_id: task_id.clone(),
                    completed_on,
                    note: note.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::CompleteTaskResponse {
            outcome: Some(o),
        }))
    }

    async fn get_annual_plan(
        &self,
        request: Request<proto::GetAnnualPlanRequest>,
    ) -> Result<Response<proto::GetAnnualPlanResponse>, Status> {
        let r = request.into_inner();
        let (id, p, version) = self.0.get::<AnnualPlan>("plan_id", &r.plan_id).await?;
        Ok(Response::new(proto::GetAnnualPlanResponse {
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
                    completed_on: t.completed_on.map(|d| d.to_string()).unwrap_or_default(),
                })
                .collect(),
        }))
    }
}
