//! The information-exchange service: requests between the Board and the companies, their answers,
//! clarifications, closing and withdrawal. Each method hands its `wire::exchange` conversion to the
//! ledger's generic path.

use tonic::{Request, Response, Status};

use crate::proto::{self, information_exchange_service_server::InformationExchangeService};
use crate::{Ledger, wire::exchange as wire};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Exchanges(pub Ledger);

#[tonic::async_trait]
impl InformationExchangeService for Exchanges {
    async fn request_information(
        &self,
        request: Request<proto::RequestInformationRequest>,
    ) -> Result<Response<proto::RequestInformationResponse>, Status> {
        self.0.command(request, wire::request).await
    }

    async fn provide_information(
        &self,
        request: Request<proto::ProvideInformationRequest>,
    ) -> Result<Response<proto::ProvideInformationResponse>, Status> {
        self.0.command(request, wire::provide).await
    }

    async fn request_clarification(
        &self,
        request: Request<proto::RequestClarificationRequest>,
    ) -> Result<Response<proto::RequestClarificationResponse>, Status> {
        self.0.command(request, wire::request_clarification).await
    }

    async fn close_exchange(
        &self,
        request: Request<proto::CloseExchangeRequest>,
    ) -> Result<Response<proto::CloseExchangeResponse>, Status> {
        self.0.command(request, wire::close).await
    }

    async fn withdraw_exchange(
        &self,
        request: Request<proto::WithdrawExchangeRequest>,
    ) -> Result<Response<proto::WithdrawExchangeResponse>, Status> {
        self.0.command(request, wire::withdraw).await
    }

    async fn get_exchange(
        &self,
        request: Request<proto::GetExchangeRequest>,
    ) -> Result<Response<proto::GetExchangeResponse>, Status> {
        let id = &request.get_ref().exchange_id;
        self.0
            .get(&request, "exchange_id", id, wire::exchange)
            .await
    }
}
