//! The monitoring service: alerts from the automatic monitoring stations (exceedances and
//! interruptions of transmission) and their resolution by an inspection, an incident or a reason.

use kcn_domain::monitoring::{
    AlertResolved, ExceedanceReceived, MonitoringAlert, MonitoringCommand, MonitoringParameter,
    TransmissionInterrupted, TransmissionRestored,
};
use kcn_domain::values::{Decimal, Text, ValueError};
use kcn_eventstore::Target;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::fields::{self, Fields, optional_text};
use crate::proto::{self, monitoring_service_server::MonitoringService};
use crate::wire_enum;
use crate::{Ledger, take};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Monitoring(pub Ledger);

/// Decimals of a measured value or limit.
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

/// A station's code in the monitoring system.
fn station_id(raw: &str) -> Result<Text, ValueError> {
    Text::parse(raw, 64)
}

/// An empty alert id opens a new alert; a given one joins that alert.
fn target(alert_id: Option<Uuid>) -> (Target, bool) {
    match alert_id {
        Some(id) => (Target::Existing(id), false),
        None => (Target::New, true),
    }
}

#[tonic::async_trait]
impl MonitoringService for Monitoring {
    async fn receive_exceedance(
        &self,
        request: Request<proto::ReceiveExceedanceRequest>,
    ) -> Result<Response<proto::ReceiveExceedanceResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let alert_id = f.check("alert_id", fields::optional_uuid(&r.alert_id));
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let station_id = f.check("station_id", station_id(&r.station_id));
        let tenant_id = f.check("tenant_id", fields::optional_uuid(&r.tenant_id));
        let parameter = f.check("parameter", parameter(r.parameter));
        let value = f.check("value", Decimal::parse(&r.value, SCALE));
        let unit = f.check("unit", Text::parse(&r.unit, 32));
        let limit = f.check("limit", Decimal::parse(&r.limit, SCALE));
        let standard_ref = f.check("standard_ref", Text::name(&r.standard_ref));
        let measured_at = match &r.measured_at {
            None => {
                f.violation("measured_at", "is required: when the value was measured");
                None
            }
            Some(ts) => f.check("measured_at", fields::instant(ts)),
        };
        f.finish()?;
        take!(
            header,
            alert_id,
            park_id,
            station_id,
            tenant_id,
            parameter,
            value,
            unit,
            limit,
            standard_ref,
            measured_at
        );
        let occurred_at = header.occurred_at;
        let (target, opens) = target(alert_id);
        let event = ExceedanceReceived {
            park_id,
            station_id,
            tenant_id,
            parameter,
            value,
            unit,
            limit,
            standard_ref,
            measured_at,
        };
        let o = self
            .0
            .run::<MonitoringAlert, _>(target, header, move |alert_id| {
                MonitoringCommand::ReceiveExceedance {
                    alert_id,
                    occurred_at,
                    opens,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::ReceiveExceedanceResponse {
            outcome: Some(o),
        }))
    }

    async fn report_transmission_interrupted(
        &self,
        request: Request<proto::ReportTransmissionInterruptedRequest>,
    ) -> Result<Response<proto::ReportTransmissionInterruptedResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let alert_id = f.check("alert_id", fields::optional_uuid(&r.alert_id));
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let station_id = f.check("station_id", station_id(&r.station_id));
        let last_data_at = f.check(
            "last_data_at",
            fields::optional_instant(r.last_data_at.as_ref()),
        );
        let reason = f.check("reason", optional_text(&r.reason, 2_000));
        f.finish()?;
        take!(header, alert_id, park_id, station_id, last_data_at, reason);
        let occurred_at = header.occurred_at;
        let (target, opens) = target(alert_id);
        let event = TransmissionInterrupted {
            park_id,
            station_id,
            last_data_at,
            reason,
        };
        let o = self
            .0
            .run::<MonitoringAlert, _>(target, header, move |alert_id| {
                MonitoringCommand::InterruptTransmission {
                    alert_id,
                    occurred_at,
                    opens,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(
            proto::ReportTransmissionInterruptedResponse { outcome: Some(o) },
        ))
    }

    async fn report_transmission_restored(
        &self,
        request: Request<proto::ReportTransmissionRestoredRequest>,
    ) -> Result<Response<proto::ReportTransmissionRestoredResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "alert_id", r.header.as_ref(), &r.alert_id);
        let note = f.check("note", optional_text(&r.note, 2_000));
        f.finish()?;
        take!(header, id, note);
        let occurred_at = header.occurred_at;
        let event = TransmissionRestored { note };
        let o = self
            .0
            .run::<MonitoringAlert, _>(Target::Existing(id), header, move |alert_id| {
                MonitoringCommand::RestoreTransmission {
                    alert_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::ReportTransmissionRestoredResponse {
            outcome: Some(o),
        }))
    }

    async fn resolve_alert(
        &self,
        request: Request<proto::ResolveAlertRequest>,
    ) -> Result<Response<proto::ResolveAlertResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let (header, id) = self
            .0
            .step(&mut f, "alert_id", r.header.as_ref(), &r.alert_id);
        let inspection_id = f.check("inspection_id", fields::optional_uuid(&r.inspection_id));
        let incident_id = f.check("incident_id", fields::optional_uuid(&r.incident_id));
        let reason = f.check("reason", optional_text(&r.reason, 2_000));
        if r.inspection_id.trim().is_empty()
            && r.incident_id.trim().is_empty()
            && r.reason.trim().is_empty()
        {
            f.violation(
                "reason",
                "is required when the alert led to no inspection or incident",
            );
        }
        f.finish()?;
        take!(header, id, inspection_id, incident_id, reason);
        let occurred_at = header.occurred_at;
        let event = AlertResolved {
            inspection_id,
            incident_id,
            reason,
        };
        let o = self
            .0
            .run::<MonitoringAlert, _>(Target::Existing(id), header, move |alert_id| {
                MonitoringCommand::Resolve {
                    alert_id,
                    occurred_at,
                    event: event.clone(),
                }
            })
            .await?;
        Ok(Response::new(proto::ResolveAlertResponse {
            outcome: Some(o),
        }))
    }

    async fn get_alert(
        &self,
        request: Request<proto::GetAlertRequest>,
    ) -> Result<Response<proto::GetAlertResponse>, Status> {
        let r = request.into_inner();
        let (id, x, version) = self
            .0
            .get::<MonitoringAlert>("alert_id", &r.alert_id)
            .await?;
        let status = if x.resolution.is_some() {
            proto::AlertStatus::Resolved
        } else {
            proto::AlertStatus::Open
        };
        Ok(Response::new(proto::GetAlertResponse {
            alert_id: id.to_string(),
            version,
            status: status as i32,
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
                    parameter: parameter_to_proto(e.parameter) as i32,
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
        }))
    }
}
