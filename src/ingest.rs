//! Inbound monitoring alerts from the provincial monitoring system, as CloudEvents 1.0 in
//! structured mode (`POST /ingest/monitoring`, `content-type: application/cloudevents+json`), on
//! the gRPC port and authenticated like every call.
//!
//! Each event becomes the `MonitoringService` command its `type` names, with `data` as the
//! command's fields (proto3 JSON, as in `ReceiveExceedanceRequest`), `time` as the business time,
//! and the CloudEvent's `source` and `id` as the command header's `source_system` and
//! `source_message_id`. The request id is derived from `source` and `id`
//! ([`request_id`]), so a message the system sends again is recorded once (the same outcome comes
//! back, nothing is appended) and the same id with other content is refused (`already_exists`,
//! `REQUEST_ID_REUSED`). The answer is the command's, as a Connect JSON call of it gives
//! ([`crate::connect`]).
//!
//! The same commands are also served as plain JSON (`POST
//! /kcn.ledger.v1.MonitoringService/ReceiveExceedance`), where the caller sets the header itself.

use cloudevents::AttributesReader as _;
use cloudevents::event::Data;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Where the CloudEvents are posted.
pub const PATH: &str = "/ingest/monitoring";

/// The CloudEvent types this endpoint takes, and the command each stands for.
pub const TYPES: &[(&str, &str)] = &[
    (
        "vn.kcn.monitoring.exceedance",
        "/kcn.ledger.v1.MonitoringService/ReceiveExceedance",
    ),
    (
        "vn.kcn.monitoring.transmission_interrupted",
        "/kcn.ledger.v1.MonitoringService/ReportTransmissionInterrupted",
    ),
    (
        "vn.kcn.monitoring.transmission_restored",
        "/kcn.ledger.v1.MonitoringService/ReportTransmissionRestored",
    ),
];

/// The request id of the message `id` from `source`: at most 128 visible ASCII characters however
/// long they are, the same for the same message.
pub fn request_id(source: &str, id: &str) -> String {
    let digest = Sha256::digest(format!("{source}\n{id}").as_bytes());
    format!("ce-{}", hex::encode(&digest[..20]))
}

/// The command a CloudEvent stands for: its method's path and its request in proto3 JSON.
pub fn translate(content_type: &str, body: &[u8]) -> Result<(&'static str, Vec<u8>), String> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence != "application/cloudevents+json" {
        return Err(format!(
            "a CloudEvent in structured mode is expected (content-type \
             application/cloudevents+json), not {content_type:?}"
        ));
    }
    let event: cloudevents::Event =
        serde_json::from_slice(body).map_err(|e| format!("not a CloudEvent 1.0: {e}"))?;
    let path = TYPES
        .iter()
        .find(|(t, _)| *t == event.ty())
        .map(|(_, p)| *p)
        .ok_or_else(|| {
            let known: Vec<&str> = TYPES.iter().map(|(t, _)| *t).collect();
            format!("type {:?} is not one of {}", event.ty(), known.join(", "))
        })?;
    let time = event
        .time()
        .ok_or("time is required: it is the business time of the alert")?;
    let mut data = match event.data() {
        Some(Data::Json(Value::Object(map))) => map.clone(),
        Some(_) => return Err("data must be a JSON object of the command's fields".to_owned()),
        None => return Err("data is required: the command's fields".to_owned()),
    };
    if data.contains_key("header") {
        return Err("data must not carry a header: it comes from the CloudEvent".to_owned());
    }
    let source = event.source().to_string();
    data.insert(
        "header".to_owned(),
        json!({
            "request_id": request_id(&source, event.id()),
            "occurred_at": time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "source_system": source,
            "source_message_id": event.id(),
        }),
    );
    Ok((path, Value::Object(data).to_string().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ty: &str, data: Value) -> Vec<u8> {
        json!({
            "specversion": "1.0",
            "type": ty,
            "source": "https://quantrac.binhduong.gov.vn/stations",
            "id": "MSG-2025-000123",
            "time": "2025-06-11T01:05:00Z",
            "datacontenttype": "application/json",
            "data": data,
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_exceedance_becomes_its_command_with_the_message_as_header() {
        let (path, json) = translate(
            "application/cloudevents+json; charset=utf-8",
            &event(
                "vn.kcn.monitoring.exceedance",
                json!({ "station_id": "DA-01" }),
            ),
        )
        .unwrap();
        assert_eq!(path, "/kcn.ledger.v1.MonitoringService/ReceiveExceedance");
        let request: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(request["station_id"], "DA-01");
        assert_eq!(request["header"]["occurred_at"], "2025-06-11T01:05:00Z");
        assert_eq!(request["header"]["source_message_id"], "MSG-2025-000123");
        let id = request["header"]["request_id"].as_str().unwrap();
        assert_eq!(
            id,
            request_id(
                "https://quantrac.binhduong.gov.vn/stations",
                "MSG-2025-000123"
            )
        );
        assert!(id.len() <= 128);
    }

    #[test]
    fn what_is_not_a_monitoring_cloudevent_is_named() {
        let wrong_type = translate(
            "application/cloudevents+json",
            &event("vn.kcn.monitoring.flood", json!({})),
        )
        .unwrap_err();
        assert!(
            wrong_type.contains("vn.kcn.monitoring.exceedance"),
            "{wrong_type}"
        );
        assert!(translate("application/json", b"{}").is_err());
        assert!(translate("application/cloudevents+json", b"{\"id\":1}").is_err());
        let header = translate(
            "application/cloudevents+json",
            &event("vn.kcn.monitoring.exceedance", json!({ "header": {} })),
        )
        .unwrap_err();
        assert!(header.contains("header"), "{header}");
    }
}
