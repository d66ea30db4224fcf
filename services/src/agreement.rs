//! The agreement service: the coordination regulation between the Board and the infrastructure
//! companies, its amendments of the service levels, and its replacement. Each method hands its
//! `wire::agreement` conversion to the ledger's generic path.

use tonic::{Request, Response, Status};

use crate::proto::{self, agreement_service_server::AgreementService};
use crate::{Ledger, wire::agreement as wire};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Agreements(pub Ledger);

#[tonic::async_trait]
impl AgreementService for Agreements {
    async fn sign_agreement(
        &self,
        request: Request<proto::SignAgreementRequest>,
    ) -> Result<Response<proto::SignAgreementResponse>, Status> {
        self.0.command(request, wire::sign).await
    }

    async fn amend_agreement(
        &self,
        request: Request<proto::AmendAgreementRequest>,
    ) -> Result<Response<proto::AmendAgreementResponse>, Status> {
        self.0.command(request, wire::amend).await
    }

    async fn supersede_agreement(
        &self,
        request: Request<proto::SupersedeAgreementRequest>,
    ) -> Result<Response<proto::SupersedeAgreementResponse>, Status> {
        self.0.command(request, wire::supersede).await
    }

    async fn get_agreement(
        &self,
        request: Request<proto::GetAgreementRequest>,
    ) -> Result<Response<proto::GetAgreementResponse>, Status> {
        let id = &request.get_ref().agreement_id;
        self.0
            .get(&request, "agreement_id", id, wire::agreement)
            .await
    }
}
