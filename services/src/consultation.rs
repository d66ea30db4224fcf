//! The industry-consultation service: a company consults the Board on whether an investor's industry
//! fits the park, the Board determines, and a favourable consultation is linked to its tenant. Each
//! method hands its `wire::consultation` conversion to the ledger's generic path.

use tonic::{Request, Response, Status};

use crate::proto::{self, industry_consultation_service_server::IndustryConsultationService};
use crate::{Ledger, wire::consultation as wire};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Consultations(pub Ledger);

#[tonic::async_trait]
impl IndustryConsultationService for Consultations {
    async fn open_consultation(
        &self,
        request: Request<proto::OpenConsultationRequest>,
    ) -> Result<Response<proto::OpenConsultationResponse>, Status> {
        self.0.command(request, wire::open).await
    }

    async fn submit_company_opinion(
        &self,
        request: Request<proto::SubmitCompanyOpinionRequest>,
    ) -> Result<Response<proto::SubmitCompanyOpinionResponse>, Status> {
        self.0.command(request, wire::submit_opinion).await
    }

    async fn determine_suitability(
        &self,
        request: Request<proto::DetermineSuitabilityRequest>,
    ) -> Result<Response<proto::DetermineSuitabilityResponse>, Status> {
        self.0.command(request, wire::determine).await
    }

    async fn withdraw_consultation(
        &self,
        request: Request<proto::WithdrawConsultationRequest>,
    ) -> Result<Response<proto::WithdrawConsultationResponse>, Status> {
        self.0.command(request, wire::withdraw).await
    }

    async fn link_consultation_to_tenant(
        &self,
        request: Request<proto::LinkConsultationToTenantRequest>,
    ) -> Result<Response<proto::LinkConsultationToTenantResponse>, Status> {
        self.0.command(request, wire::link_to_tenant).await
    }

    async fn get_consultation(
        &self,
        request: Request<proto::GetConsultationRequest>,
    ) -> Result<Response<proto::GetConsultationResponse>, Status> {
        let id = &request.get_ref().consultation_id;
        self.0
            .get(&request, "consultation_id", id, wire::consultation)
            .await
    }
}
