//! The incident service: environmental incidents reported, classified, notified, responded to,
//! escalated, contained, resolved and reviewed. Each method hands its `wire::incident` conversion to
//! the ledger's generic path.

use tonic::{Request, Response, Status};

use crate::proto::{self, incident_service_server::IncidentService};
use crate::{Ledger, wire::incident as wire};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Incidents(pub Ledger);

#[tonic::async_trait]
impl IncidentService for Incidents {
    async fn report_incident(
        &self,
        request: Request<proto::ReportIncidentRequest>,
    ) -> Result<Response<proto::ReportIncidentResponse>, Status> {
        self.0.command(request, wire::report).await
    }

    async fn classify_incident(
        &self,
        request: Request<proto::ClassifyIncidentRequest>,
    ) -> Result<Response<proto::ClassifyIncidentResponse>, Status> {
        self.0.command(request, wire::classify).await
    }

    async fn send_incident_notification(
        &self,
        request: Request<proto::SendIncidentNotificationRequest>,
    ) -> Result<Response<proto::SendIncidentNotificationResponse>, Status> {
        self.0.command(request, wire::notify).await
    }

    async fn take_response_action(
        &self,
        request: Request<proto::TakeResponseActionRequest>,
    ) -> Result<Response<proto::TakeResponseActionResponse>, Status> {
        self.0.command(request, wire::take_action).await
    }

    async fn escalate_incident(
        &self,
        request: Request<proto::EscalateIncidentRequest>,
    ) -> Result<Response<proto::EscalateIncidentResponse>, Status> {
        self.0.command(request, wire::escalate).await
    }

    async fn contain_incident(
        &self,
        request: Request<proto::ContainIncidentRequest>,
    ) -> Result<Response<proto::ContainIncidentResponse>, Status> {
        self.0.command(request, wire::contain).await
    }

    async fn resolve_incident(
        &self,
        request: Request<proto::ResolveIncidentRequest>,
    ) -> Result<Response<proto::ResolveIncidentResponse>, Status> {
        self.0.command(request, wire::resolve).await
    }

    async fn review_incident(
        &self,
        request: Request<proto::ReviewIncidentRequest>,
    ) -> Result<Response<proto::ReviewIncidentResponse>, Status> {
        self.0.command(request, wire::review).await
    }

    async fn get_incident(
        &self,
        request: Request<proto::GetIncidentRequest>,
    ) -> Result<Response<proto::GetIncidentResponse>, Status> {
        let id = &request.get_ref().incident_id;
        self.0
            .get(&request, "incident_id", id, wire::incident)
            .await
    }
}
