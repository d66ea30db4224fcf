//! The delivery service's one command: skipping the event a delivery endpoint is paused at.

use kcn_domain::delivery::{DeliveryCommand, DeliveryEndpoint, DeliveryEventSkipped, endpoint_id};
use kcn_domain::values::{Text, ValueError, max_chars};

use super::Command;
use crate::fields::{self, Fields};
use crate::proto;

pub fn skip(
    r: proto::SkipDeliveryEventRequest,
    f: &mut Fields,
) -> Option<Command<DeliveryEndpoint>> {
    let endpoint = f.check("endpoint", Text::code(&r.endpoint));
    let position = f.check(
        "position",
        if r.position == 0 {
            Err(ValueError("must be at least 1".to_owned()))
        } else {
            Ok(r.position)
        },
    );
    let event_id = f.check("event_id", fields::uuid(&r.event_id));
    let reason = f.check("reason", Text::parse(&r.reason, max_chars::NOTE));
    let (endpoint, position, event_id, reason) = (endpoint?, position?, event_id?, reason?);
    let record_id = endpoint_id(endpoint.as_str());
    Some(Command::on(record_id, move |record_id, occurred_at| {
        DeliveryCommand::Skip {
            record_id,
            occurred_at,
            event: DeliveryEventSkipped {
                endpoint: endpoint.clone(),
                position,
                event_id,
                reason: reason.clone(),
            },
        }
    }))
}
