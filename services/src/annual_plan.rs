//! The annual-plan service: the Board issues the year's tasks, the companies report progress on them
//! and complete them; a late completion is accepted and its breach named. Each method hands its
//! `wire::annual_plan` conversion to the ledger's generic path.

use tonic::{Request, Response, Status};

use crate::proto::{self, annual_plan_service_server::AnnualPlanService};
use crate::{Ledger, wire::annual_plan as wire};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct AnnualPlans(pub Ledger);

#[tonic::async_trait]
impl AnnualPlanService for AnnualPlans {
    async fn issue_annual_tasks(
        &self,
        request: Request<proto::IssueAnnualTasksRequest>,
    ) -> Result<Response<proto::IssueAnnualTasksResponse>, Status> {
        self.0.command(request, wire::issue).await
    }

    async fn report_task_progress(
        &self,
        request: Request<proto::ReportTaskProgressRequest>,
    ) -> Result<Response<proto::ReportTaskProgressResponse>, Status> {
        self.0.command(request, wire::report_progress).await
    }

    async fn complete_task(
        &self,
        request: Request<proto::CompleteTaskRequest>,
    ) -> Result<Response<proto::CompleteTaskResponse>, Status> {
        self.0.command(request, wire::complete).await
    }

    async fn get_annual_plan(
        &self,
        request: Request<proto::GetAnnualPlanRequest>,
    ) -> Result<Response<proto::GetAnnualPlanResponse>, Status> {
        let id = &request.get_ref().plan_id;
        self.0.get(&request, "plan_id", id, wire::plan).await
    }
}
