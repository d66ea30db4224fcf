//! The monitoring service: alerts from the automatic monitoring stations (exceedances and
//! interruptions of transmission) and their resolution by an inspection, an incident or a reason.
//! Each method hands its `wire::monitoring` conversion to the ledger's generic path.

use tonic::{Request, Response, Status};

use crate::proto::{self, monitoring_service_server::MonitoringService};
use crate::{Ledger, wire::monitoring as wire};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Monitoring(pub Ledger);

#[tonic::async_trait]
impl MonitoringService for Monitoring {
    async fn receive_exceedance(
        &self,
        request: Request<proto::ReceiveExceedanceRequest>,
    ) -> Result<Response<proto::ReceiveExceedanceResponse>, Status> {
        self.0.command(request, wire::receive_exceedance).await
    }

    async fn report_transmission_interrupted(
        &self,
        request: Request<proto::ReportTransmissionInterruptedRequest>,
    ) -> Result<Response<proto::ReportTransmissionInterruptedResponse>, Status> {
        self.0.command(request, wire::interrupt).await
    }

    async fn report_transmission_restored(
        &self,
        request: Request<proto::ReportTransmissionRestoredRequest>,
    ) -> Result<Response<proto::ReportTransmissionRestoredResponse>, Status> {
        self.0.command(request, wire::restore).await
    }

    async fn resolve_alert(
        &self,
        request: Request<proto::ResolveAlertRequest>,
    ) -> Result<Response<proto::ResolveAlertResponse>, Status> {
        self.0.command(request, wire::resolve).await
    }

    async fn get_alert(
        &self,
        request: Request<proto::GetAlertRequest>,
    ) -> Result<Response<proto::GetAlertResponse>, Status> {
        let id = &request.get_ref().alert_id;
        self.0.get(&request, "alert_id", id, wire::alert).await
    }
}
