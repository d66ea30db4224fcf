//! The inspection service: plans, decisions and their delivery, start, extension, findings,
//! conclusion, remediation, referral for sanction and closing of inspections of tenant enterprises.
//! Each method hands its `wire::inspection` conversion to the ledger's generic path.

use tonic::{Request, Response, Status};

use crate::proto::{self, inspection_service_server::InspectionService};
use crate::{Ledger, wire::inspection as wire};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Inspections(pub Ledger);

#[tonic::async_trait]
impl InspectionService for Inspections {
    async fn plan_inspection(
        &self,
        request: Request<proto::PlanInspectionRequest>,
    ) -> Result<Response<proto::PlanInspectionResponse>, Status> {
        self.0.command(request, wire::plan).await
    }

    async fn issue_inspection_decision(
        &self,
        request: Request<proto::IssueInspectionDecisionRequest>,
    ) -> Result<Response<proto::IssueInspectionDecisionResponse>, Status> {
        self.0.command(request, wire::issue_decision).await
    }

    async fn deliver_inspection_decision(
        &self,
        request: Request<proto::DeliverInspectionDecisionRequest>,
    ) -> Result<Response<proto::DeliverInspectionDecisionResponse>, Status> {
        self.0.command(request, wire::deliver_decision).await
    }

    async fn start_inspection(
        &self,
        request: Request<proto::StartInspectionRequest>,
    ) -> Result<Response<proto::StartInspectionResponse>, Status> {
        self.0.command(request, wire::start).await
    }

    async fn extend_inspection(
        &self,
        request: Request<proto::ExtendInspectionRequest>,
    ) -> Result<Response<proto::ExtendInspectionResponse>, Status> {
        self.0.command(request, wire::extend).await
    }

    async fn record_finding(
        &self,
        request: Request<proto::RecordFindingRequest>,
    ) -> Result<Response<proto::RecordFindingResponse>, Status> {
        self.0.command(request, wire::record_finding).await
    }

    async fn conclude_inspection(
        &self,
        request: Request<proto::ConcludeInspectionRequest>,
    ) -> Result<Response<proto::ConcludeInspectionResponse>, Status> {
        self.0.command(request, wire::conclude).await
    }

    async fn require_remediation(
        &self,
        request: Request<proto::RequireRemediationRequest>,
    ) -> Result<Response<proto::RequireRemediationResponse>, Status> {
        self.0.command(request, wire::require_remediation).await
    }

    async fn verify_remediation(
        &self,
        request: Request<proto::VerifyRemediationRequest>,
    ) -> Result<Response<proto::VerifyRemediationResponse>, Status> {
        self.0.command(request, wire::verify_remediation).await
    }

    async fn refer_for_sanction(
        &self,
        request: Request<proto::ReferForSanctionRequest>,
    ) -> Result<Response<proto::ReferForSanctionResponse>, Status> {
        self.0.command(request, wire::refer_for_sanction).await
    }

    async fn close_inspection(
        &self,
        request: Request<proto::CloseInspectionRequest>,
    ) -> Result<Response<proto::CloseInspectionResponse>, Status> {
        self.0.command(request, wire::close).await
    }

    async fn get_inspection(
        &self,
        request: Request<proto::GetInspectionRequest>,
    ) -> Result<Response<proto::GetInspectionResponse>, Status> {
        let id = &request.get_ref().inspection_id;
        self.0
            .get(&request, "inspection_id", id, wire::inspection)
            .await
    }
}
