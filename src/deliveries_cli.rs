//! `kcn-ledger deliveries list|redrive|skip`: an administrator's client of the delivery service.
//! `skip` records the skip in the log (`DeliveryEventSkipped`) before delivery goes on.

use chrono::Utc;
use kcn_services::proto;
use kcn_services::proto::delivery_service_client::DeliveryServiceClient;

use crate::client::AuthChannel;

fn status(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", e.code(), e.message())
}

fn line(d: &proto::DeliveryStatus) -> String {
    let state = if d.paused_position == 0 {
        "delivering".to_owned()
    } else {
        format!(
            "PAUSED at {} ({}) after {} attempts: {}",
            d.paused_position, d.paused_event_id, d.attempts, d.last_error
        )
    };
    format!(
        "{}\t{}\tdelivered {} of {}\t{state}",
        d.endpoint, d.url, d.delivered_position, d.head_position
    )
}

/// One line per configured endpoint.
///
/// # Errors
///
/// The server's refusal.
pub async fn list(channel: AuthChannel) -> anyhow::Result<Vec<String>> {
    let answer = DeliveryServiceClient::new(channel)
        .list_deliveries(proto::ListDeliveriesRequest {})
        .await
        .map_err(status)?
        .into_inner();
    Ok(answer.deliveries.iter().map(line).collect())
}

/// Lets a paused endpoint try again.
///
/// # Errors
///
/// The server's refusal (not paused, no such endpoint).
pub async fn redrive(channel: AuthChannel, endpoint: &str) -> anyhow::Result<String> {
    let answer = DeliveryServiceClient::new(channel)
        .redrive_delivery(proto::RedriveDeliveryRequest {
            endpoint: endpoint.to_owned(),
        })
        .await
        .map_err(status)?
        .into_inner();
    Ok(answer.delivery.as_ref().map(line).unwrap_or_default())
}

/// Skips the event `endpoint` is paused at, which must be at `position`.
///
/// # Errors
///
/// The server's refusal (not paused there).
pub async fn skip(
    channel: AuthChannel,
    endpoint: &str,
    position: u64,
    reason: &str,
) -> anyhow::Result<u64> {
    let mut client = DeliveryServiceClient::new(channel);
    let now = Utc::now();
    let listed = client
        .list_deliveries(proto::ListDeliveriesRequest {})
        .await
        .map_err(status)?
        .into_inner();
    let event_id = listed
        .deliveries
        .iter()
        .find(|d| d.endpoint == endpoint && d.paused_position == position)
        .map(|d| d.paused_event_id.clone())
        .ok_or_else(|| anyhow::anyhow!("{endpoint} is not paused at position {position}"))?;
    let answer = client
        .skip_delivery_event(proto::SkipDeliveryEventRequest {
            header: Some(proto::CommandHeader {
                request_id: uuid::Uuid::now_v7().to_string(),
                occurred_at: Some(prost_types::Timestamp {
                    seconds: now.timestamp(),
                    nanos: 0,
                }),
                ..Default::default()
            }),
            endpoint: endpoint.to_owned(),
            position,
            reason: reason.to_owned(),
            event_id,
        })
        .await
        .map_err(status)?
        .into_inner();
    Ok(answer.outcome.map(|o| o.last_position).unwrap_or_default())
}
