//! `DeliveryService`: where each endpoint's delivery stands, redriving a paused one, and skipping the
//! event one is paused at (a command: `DeliveryEventSkipped` goes into the log first, then the
//! endpoint moves past the event).

use kcn_domain::DomainError;
use kcn_domain::delivery::{DeliveryEndpoint, endpoint_id};
use kcn_services::proto::{self, delivery_service_server::DeliveryService};
use kcn_services::{Ledger, error};
use tonic::{Request, Response, Status};

use super::{Deliveries, Progress};

/// The service over the configured endpoints (none configured: every list is empty).
#[derive(Debug, Clone)]
pub struct DeliveryControl {
    pub ledger: Ledger,
    pub deliveries: Option<Deliveries>,
}

fn internal(e: anyhow::Error) -> Status {
    error::internal(&format!("{e:#}"))
}

impl DeliveryControl {
    async fn status(&self, name: &str) -> Result<proto::DeliveryStatus, Status> {
        let (Some(d), Some(url)) = (
            &self.deliveries,
            self.deliveries.as_ref().and_then(|d| {
                d.endpoints()
                    .into_iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, url)| url)
            }),
        ) else {
            return Err(Status::not_found(format!(
                "no delivery endpoint is named {name:?} in the server's configuration"
            )));
        };
        let p: Progress = d
            .progress(name)
            .await
            .map_err(internal)?
            .unwrap_or_default();
        let head = self.ledger.store.head().await.map_err(error::store)?;
        Ok(proto::DeliveryStatus {
            endpoint: name.to_owned(),
            url,
            delivered_position: p.delivered,
            head_position: head,
            paused_position: p.paused_at.unwrap_or(0),
            attempts: p.attempts,
            last_error: p.last_error.unwrap_or_default(),
            last_error_at: p
                .last_error_at
                .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                .map(kcn_services::fields::timestamp),
            paused_event_id: p.paused_event_id.unwrap_or_default(),
        })
    }
}

#[tonic::async_trait]
impl DeliveryService for DeliveryControl {
    async fn list_deliveries(
        &self,
        _request: Request<proto::ListDeliveriesRequest>,
    ) -> Result<Response<proto::ListDeliveriesResponse>, Status> {
        let mut deliveries = Vec::new();
        for (name, _) in self.deliveries.iter().flat_map(Deliveries::endpoints) {
            deliveries.push(self.status(&name).await?);
        }
        Ok(Response::new(proto::ListDeliveriesResponse { deliveries }))
    }

    async fn redrive_delivery(
        &self,
        request: Request<proto::RedriveDeliveryRequest>,
    ) -> Result<Response<proto::RedriveDeliveryResponse>, Status> {
        let name = request.into_inner().endpoint;
        let mut f = kcn_services::fields::Fields::default();
        f.check("endpoint", kcn_domain::values::Text::code(&name));
        f.finish()?;
        self.status(&name).await?;
        let redriven = match &self.deliveries {
            Some(d) => d.redrive(&name).await.map_err(internal)?,
            None => false,
        };
        if !redriven {
            return Err(error::domain(DomainError::rule(
                "delivery_not_paused",
                format!("delivery to {name} is not paused"),
            )));
        }
        tracing::info!(endpoint = %name, "delivery redriven");
        Ok(Response::new(proto::RedriveDeliveryResponse {
            delivery: Some(self.status(&name).await?),
        }))
    }

    async fn skip_delivery_event(
        &self,
        request: Request<proto::SkipDeliveryEventRequest>,
    ) -> Result<Response<proto::SkipDeliveryEventResponse>, Status> {
        let r = request.get_ref();
        // Every field is checked before anything is looked up (the command checks them again).
        let mut f = kcn_services::fields::Fields::default();
        let _ = kcn_services::wire::delivery::skip(r.clone(), &mut f);
        f.finish()?;
        let (name, position, event_id) = (r.endpoint.clone(), r.position, r.event_id.clone());
        let status = self.status(&name).await?;
        // A retry of a skip already done answers its outcome: the log's idempotency decides.
        let retry = self
            .ledger
            .store
            .load::<DeliveryEndpoint>(endpoint_id(&name))
            .await
            .map_err(error::store)?
            .is_some_and(|(record, _)| record.skipped.iter().any(|s| s.position == position));
        if !retry && (status.paused_position != position || status.paused_event_id != event_id) {
            return Err(error::domain(DomainError::rule(
                "delivery_not_paused_at",
                format!(
                    "delivery to {name} is not paused at position {position} (event {event_id}); \
                     it is at {}",
                    if status.paused_position == 0 {
                        "no event: it is not paused".to_owned()
                    } else {
                        format!("{} ({})", status.paused_position, status.paused_event_id)
                    }
                ),
            )));
        }
        let answer = self
            .ledger
            .command(request, kcn_services::wire::delivery::skip)
            .await?;
        if let Some(d) = &self.deliveries {
            d.skip(&name, position).await.map_err(internal)?;
        }
        tracing::warn!(endpoint = %name, position, "delivery skipped an event");
        Ok(answer)
    }
}
