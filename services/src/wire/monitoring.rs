//! The monitoring service's conversions: exceedances and interruptions of transmission opening or
//! joining an alert, its restoration and resolution, and the alert as `GetAlertResponse`.

use kcn_domain::monitoring::{
    AlertResolved, AlertStatus, ExceedanceReceived, MonitoringAlert, MonitoringCommand,
    MonitoringParameter, TransmissionInterrupted, TransmissionRestored,
};
use kcn_domain::values::{Decimal, Text, max_chars};
use kcn_eventstore::Target;
use uuid::Uuid;

use super::Command;
use crate::fields::{self, Fields, optional_text};
use crate::{proto, wire_enum};

/// Decimals of a measured value or limit (at most 12 integer digits).
const SCALE: usize = 6;

wire_enum!(
    parameter,
    parameter_to_proto,
    proto::MonitoringParameter,
    MonitoringParameter,
    "MONITORING_PARAMETER",
    [
        Cod,
        Tss,
        Ph,
        Ec,
        Flow,
        Temperature,
        Ammonium,
        TotalNitrogen,
        TotalPhosphorus,
        Color
    ]
);

type Cmd = Command<MonitoringAlert>;

/// An empty alert id opens a new alert; a given one joins that alert. Answers the target and
/// whether the command opens the alert.
fn joining(f: &mut Fields, raw: &str) -> Option<(Target, bool)> {
    Some(match f.check("alert_id", fields::optional_uuid(raw))? {
        Some(id) => (Target::Existing(id), false),
        None => (Target::New, true),
    })
}

pub fn receive_exceedance(r: proto::ReceiveExceedanceRequest, f: &mut Fields) -> Option<Cmd> {
    let target = joining(f, &r.alert_id);
    let park_id = f.check("park_id", fields::uuid(&r.park_id));
    let station_id = f.check("station_id", Text::code(&r.station_id));
    let tenant_id = f.check("tenant_id", fields::optional_uuid(&r.tenant_id));
    let parameter = f.check("parameter", parameter(r.parameter));
    let value = f.check("value", Decimal::parse(&r.value, SCALE));
    let unit = f.check("unit", Text::parse(&r.unit, max_chars::UNIT));
    let limit = f.check("limit", Decimal::parse(&r.limit, SCALE));
    let standard_ref = f.check("standard_ref", Text::name(&r.standard_ref));
    let what = "when the value was measured";
    let measured_at = f.instant("measured_at", r.measured_at.as_ref(), what);
    let event = ExceedanceReceived {
        park_id: park_id?,
        station_id: station_id?,
        tenant_id: tenant_id?,
        parameter: parameter?,
        value: value?,
        unit: unit?,
        limit: limit?,
        standard_ref: standard_ref?,
        measured_at: measured_at?,
    };
    let (target, opens) = target?;
    Some(Cmd::to(target, move |alert_id, occurred_at| {
        MonitoringCommand::ReceiveExceedance {
            alert_id,
            occurred_at,
            opens,
            event: event.clone(),
        }
    }))
}

pub fn interrupt(r: proto::ReportTransmissionInterruptedRequest, f: &mut Fields) -> Option<Cmd> {
    let target = joining(f, &r.alert_id);
    let park_id = f.check("park_id", fields::uuid(&r.park_id));
    let station_id = f.check("station_id", Text::code(&r.station_id));
    let last_data_at = f.check(
        "last_data_at",
        fields::optional_instant(r.last_data_at.as_ref()),
    );
    let reason = f.check("reason", optional_text(&r.reason, max_chars::NOTE));
    let event = TransmissionInterrupted {
        park_id: park_id?,
        station_id: station_id?,
        last_data_at: last_data_at?,
        reason: reason?,
    };
    let (target, opens) = target?;
    Some(Cmd::to(target, move |alert_id, occurred_at| {
        MonitoringCommand::InterruptTransmission {
            alert_id,
            occurred_at,
            opens,
            event: event.clone(),
        }
    }))
}

pub fn restore(r: proto::ReportTransmissionRestoredRequest, f: &mut Fields) -> Option<Cmd> {
    let id = f.check("alert_id", fields::uuid(&r.alert_id));
    let note = f.check("note", optional_text(&r.note, max_chars::NOTE));
    let event = TransmissionRestored { note: note? };
    Some(Cmd::on(id?, move |alert_id, occurred_at| {
        MonitoringCommand::RestoreTransmission {
            alert_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

pub fn resolve(r: proto::ResolveAlertRequest, f: &mut Fields) -> Option<Cmd> {
    let id = f.check("alert_id", fields::uuid(&r.alert_id));
    let inspection_id = f.check("inspection_id", fields::optional_uuid(&r.inspection_id));
    let incident_id = f.check("incident_id", fields::optional_uuid(&r.incident_id));
    let reason = f.check("reason", optional_text(&r.reason, max_chars::NOTE));
    if [&r.inspection_id, &r.incident_id, &r.reason]
        .iter()
        .all(|s| s.trim().is_empty())
    {
        f.violation(
            "reason",
            "is required when the alert led to no inspection or incident",
        );
    }
    let event = AlertResolved {
        inspection_id: inspection_id?,
        incident_id: incident_id?,
        reason: reason?,
    };
    Some(Cmd::on(id?, move |alert_id, occurred_at| {
        MonitoringCommand::Resolve {
            alert_id,
            occurred_at,
            event: event.clone(),
        }
    }))
}

fn status(s: AlertStatus) -> proto::AlertStatus {
    use proto::AlertStatus as P;
    match s {
        AlertStatus::NotOpened => P::Unspecified,
        AlertStatus::Open => P::Open,
        AlertStatus::Resolved => P::Resolved,
    }
}

/// The alert as the wire's answer.
pub fn alert(id: Uuid, x: &MonitoringAlert, version: u64) -> proto::GetAlertResponse {
    proto::GetAlertResponse {
        alert_id: id.to_string(),
        version,
        status: status(x.status()) as i32,
        park_id: x.park_id.map(|p| p.to_string()).unwrap_or_default(),
        station_id: x
            .station_id
            .as_ref()
            .map(Text::to_string)
            .unwrap_or_default(),
        opened_at: x.opened_at.map(fields::timestamp),
        exceedances: x
            .exceedances
            .iter()
            .map(|e| proto::ExceedanceReceived {
                park_id: e.park_id.to_string(),
                station_id: e.station_id.to_string(),
                tenant_id: e.tenant_id.map(|t| t.to_string()),
                parameter: parameter_to_proto(e.parameter),
                value: e.value.as_str().to_owned(),
                unit: e.unit.to_string(),
                limit: e.limit.as_str().to_owned(),
                standard_ref: e.standard_ref.to_string(),
                measured_at: Some(fields::timestamp(e.measured_at)),
            })
            .collect(),
        interrupted_at: x.interrupted_at.map(fields::timestamp),
        interruptions: x.interruptions,
        resolution: x.resolution.as_ref().map(|e| proto::AlertResolved {
            inspection_id: e.inspection_id.map(|i| i.to_string()),
            incident_id: e.incident_id.map(|i| i.to_string()),
            reason: e.reason.as_ref().map(Text::to_string),
        }),
        resolved_at: x.resolved_at.map(fields::timestamp),
    }
}
