//! The dissemination service: legal trainings held and guidance documents issued by an authority,
//! one record per act. Each method hands its `wire::dissemination` conversion to the ledger's
//! generic path.

use tonic::{Request, Response, Status};

use crate::proto::{self, dissemination_service_server::DisseminationService};
use crate::{Ledger, wire::dissemination as wire};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Disseminations(pub Ledger);

#[tonic::async_trait]
impl DisseminationService for Disseminations {
    async fn record_legal_training(
        &self,
        request: Request<proto::RecordLegalTrainingRequest>,
    ) -> Result<Response<proto::RecordLegalTrainingResponse>, Status> {
        self.0.command(request, wire::record_training).await
    }

    async fn issue_guidance(
        &self,
        request: Request<proto::IssueGuidanceRequest>,
    ) -> Result<Response<proto::IssueGuidanceResponse>, Status> {
        self.0.command(request, wire::issue_guidance).await
    }

    async fn get_dissemination(
        &self,
        request: Request<proto::GetDisseminationRequest>,
    ) -> Result<Response<proto::GetDisseminationResponse>, Status> {
        let id = &request.get_ref().dissemination_id;
        self.0
            .get(&request, "dissemination_id", id, wire::dissemination)
            .await
    }
}
