//! The MonitoringAlert aggregate: what the automatic monitoring of a station (quan trắc tự động) raised,
//! an exceedance of a discharge limit or an interruption of its data, until the alert is resolved by
//! the inspection or incident it led to, or with a reason.
//!
//! One alert concerns one station of one park: later readings and interruptions of the same station
//! may join an open alert. Values are exact decimal strings, never floats.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{AggregateKind, EventPayload, LedgerAggregate, Timed, not_before_its};
use crate::values::{Decimal, Text};
use crate::{Deps, DomainError, events};

/// A monitored parameter of wastewater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MonitoringParameter {
    /// Chemical oxygen demand.
    #[serde(rename = "MONITORING_PARAMETER_COD")]
    Cod,
    /// Total suspended solids.
    #[serde(rename = "MONITORING_PARAMETER_TSS")]
    Tss,
    #[serde(rename = "MONITORING_PARAMETER_PH")]
    Ph,
    /// Electrical conductivity.
    #[serde(rename = "MONITORING_PARAMETER_EC")]
    Ec,
    #[serde(rename = "MONITORING_PARAMETER_FLOW")]
    Flow,
    #[serde(rename = "MONITORING_PARAMETER_TEMPERATURE")]
    Temperature,
    #[serde(rename = "MONITORING_PARAMETER_AMMONIUM")]
    Ammonium,
    #[serde(rename = "MONITORING_PARAMETER_TOTAL_NITROGEN")]
    TotalNitrogen,
    #[serde(rename = "MONITORING_PARAMETER_TOTAL_PHOSPHORUS")]
    TotalPhosphorus,
    #[serde(rename = "MONITORING_PARAMETER_COLOR")]
    Color,
}

/// `ExceedanceReceived`: a station measured a value beyond its limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExceedanceReceived {
    pub park_id: Uuid,
    /// The station's code in the monitoring system.
    pub station_id: Text,
    /// The tenant whose outlet the station monitors, when it is not the park's central plant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<Uuid>,
    pub parameter: MonitoringParameter,
    /// The measured value, as an exact decimal string.
    pub value: Decimal,
    pub unit: Text,
    /// The limit exceeded, in the same unit, as an exact decimal string.
    pub limit: Decimal,
    /// The technical standard the limit comes from (`QCVN 40:2011/BTNMT, column A`).
    pub standard_ref: Text,
    /// When the value was measured; not after the event's `occurred_at`.
    pub measured_at: DateTime<Utc>,
}
impl EventPayload for ExceedanceReceived {}

/// `TransmissionInterrupted`: a station stopped sending data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransmissionInterrupted {
    pub park_id: Uuid,
    pub station_id: Text,
    /// The last data received before the interruption, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_data_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
}
impl EventPayload for TransmissionInterrupted {}

/// `TransmissionRestored`: the station sends data again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransmissionRestored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}
impl EventPayload for TransmissionRestored {}

/// `AlertResolved`: the alert led to an inspection or an incident, or was resolved for a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertResolved {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<Uuid>,
    /// Why, required when the alert led to neither (a calibration fault, a power cut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
}
impl EventPayload for AlertResolved {}

events!(
    /// Events of a monitoring alert.
    MonitoringEvent {
        ExceedanceReceived,
        TransmissionInterrupted,
        TransmissionRestored,
        AlertResolved,
    }
);

/// Commands on a monitoring alert. An exceedance or an interruption either opens a new alert
/// (`opens`) or joins an open one of the same station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MonitoringCommand {
    ReceiveExceedance {
        alert_id: Uuid,
        occurred_at: DateTime<Utc>,
        opens: bool,
        event: ExceedanceReceived,
    },
    InterruptTransmission {
        alert_id: Uuid,
        occurred_at: DateTime<Utc>,
        opens: bool,
        event: TransmissionInterrupted,
    },
    RestoreTransmission {
        alert_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: TransmissionRestored,
    },
    Resolve {
        alert_id: Uuid,
        occurred_at: DateTime<Utc>,
        event: AlertResolved,
    },
}

/// An alert's current state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct MonitoringAlert {
    pub park_id: Option<Uuid>,
    pub station_id: Option<Text>,
    pub opened_at: Option<DateTime<Utc>>,
    pub exceedances: Vec<ExceedanceReceived>,
    /// Since when the station's data are interrupted, if they are.
    pub interrupted_at: Option<DateTime<Utc>>,
    pub interruptions: u32,
    pub resolution: Option<AlertResolved>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub latest: Option<DateTime<Utc>>,
}

/// Whether an alert is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    /// No alert was opened under this id.
    NotOpened,
    Open,
    Resolved,
}

impl MonitoringAlert {
    /// Open from its first exceedance or interruption until it is resolved.
    pub fn status(&self) -> AlertStatus {
        if self.park_id.is_none() {
            AlertStatus::NotOpened
        } else if self.resolution.is_some() {
            AlertStatus::Resolved
        } else {
            AlertStatus::Open
        }
    }
}

impl MonitoringAlert {
    /// Refuses a step on an alert never opened or already resolved. A message may be dated before
    /// earlier-recorded ones: the monitoring system delivers late.
    fn require_open(&self, id: Uuid, step: &str) -> Result<(), DomainError> {
        if self.park_id.is_none() {
            return Err(DomainError::NotFound {
                kind: AggregateKind::MonitoringAlert,
                id,
            });
        }
        if self.resolution.is_some() {
            return Err(DomainError::rule(
                "alert_resolved",
                format!("the alert is resolved; {step} is no longer possible"),
            ));
        }
        Ok(())
    }

    /// Opens a new alert for a station of an existing park, or joins the open alert of the same
    /// station.
    async fn open_or_join(
        &self,
        id: Uuid,
        opens: bool,
        (park_id, station_id): (Uuid, &Text),
        deps: &Deps,
        step: &str,
    ) -> Result<(), DomainError> {
        if opens {
            if self.park_id.is_some() {
                return Err(DomainError::AlreadyExists {
                    kind: AggregateKind::MonitoringAlert,
                    id,
                });
            }
            return deps.require("park_id", AggregateKind::Park, park_id).await;
        }
        self.require_open(id, step)?;
        if self.park_id != Some(park_id) || self.station_id.as_ref() != Some(station_id) {
            return Err(DomainError::rule(
                "station_mismatch",
                format!(
                    "this alert concerns station {} of park {}, not station {station_id} of park {park_id}",
                    self.station_id.as_ref().map_or("?", Text::as_str),
                    self.park_id.map_or_else(String::new, |p| p.to_string()),
                ),
            ));
        }
        Ok(())
    }
}

impl Aggregate for MonitoringAlert {
    const TYPE: &'static str = "MonitoringAlert";
    type Command = MonitoringCommand;
    type Event = Timed<MonitoringEvent>;
    type Error = DomainError;
    type Services = Deps;

    async fn handle(
        &mut self,
        command: MonitoringCommand,
        deps: &Deps,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let (occurred_at, body): (_, MonitoringEvent) = match command {
            MonitoringCommand::ReceiveExceedance {
                alert_id,
                occurred_at,
                opens,
                event,
            } => {
                if event.measured_at > occurred_at {
                    return Err(DomainError::invalid(
                        "measured_at",
                        format!("must not be after occurred_at ({occurred_at})"),
                    ));
                }
                self.open_or_join(
                    alert_id,
                    opens,
                    (event.park_id, &event.station_id),
                    deps,
                    "an exceedance",
                )
                .await?;
                if let Some(tenant_id) = event.tenant_id {
                    deps.require("tenant_id", AggregateKind::Tenant, tenant_id)
                        .await?;
                }
                (occurred_at, event.into())
            }
            MonitoringCommand::InterruptTransmission {
                alert_id,
                occurred_at,
                opens,
                event,
            } => {
                if event.last_data_at.is_some_and(|t| t > occurred_at) {
                    return Err(DomainError::invalid(
                        "last_data_at",
                        format!("must not be after occurred_at ({occurred_at})"),
                    ));
                }
                self.open_or_join(
                    alert_id,
                    opens,
                    (event.park_id, &event.station_id),
                    deps,
                    "an interruption",
                )
                .await?;
                if self.interrupted_at.is_some() {
                    return Err(DomainError::rule(
                        "transmission_already_interrupted",
                        "the station's transmission is already interrupted; restore it first",
                    ));
                }
                (occurred_at, event.into())
            }
            MonitoringCommand::RestoreTransmission {
                alert_id,
                occurred_at,
                event,
            } => {
                self.require_open(alert_id, "a restoration")?;
                if self.interrupted_at.is_none() {
                    return Err(DomainError::rule(
                        "transmission_not_interrupted",
                        "the station's transmission is not interrupted, so it cannot be restored",
                    ));
                }
                not_before_its(
                    self.interrupted_at,
                    occurred_at,
                    "a restoration",
                    "the interruption",
                )?;
                (occurred_at, event.into())
            }
            MonitoringCommand::Resolve {
                alert_id,
                occurred_at,
                event,
            } => {
                self.require_open(alert_id, "a second resolution")?;
                not_before_its(
                    self.opened_at,
                    occurred_at,
                    "the resolution",
                    "the alert's opening",
                )?;
                if event.inspection_id.is_none()
                    && event.incident_id.is_none()
                    && event.reason.is_none()
                {
                    return Err(DomainError::invalid(
                        "reason",
                        "is required when the alert led to no inspection or incident",
                    ));
                }
                if let Some(inspection_id) = event.inspection_id {
                    deps.require("inspection_id", AggregateKind::Inspection, inspection_id)
                        .await?;
                }
                if let Some(incident_id) = event.incident_id {
                    deps.require("incident_id", AggregateKind::Incident, incident_id)
                        .await?;
                }
                (occurred_at, event.into())
            }
        };
        sink.write(Timed { occurred_at, body }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Timed<MonitoringEvent>) {
        let at = event.occurred_at;
        self.latest = self.latest.max(Some(at));
        if self.opened_at.is_none() {
            self.opened_at = Some(at);
        }
        match event.body {
            MonitoringEvent::ExceedanceReceived(e) => {
                self.park_id = Some(e.park_id);
                self.station_id = Some(e.station_id.clone());
                self.exceedances.push(e);
            }
            MonitoringEvent::TransmissionInterrupted(e) => {
                self.park_id = Some(e.park_id);
                self.station_id = Some(e.station_id);
                self.interrupted_at = Some(at);
                self.interruptions += 1;
            }
            MonitoringEvent::TransmissionRestored(_) => self.interrupted_at = None,
            MonitoringEvent::AlertResolved(e) => {
                self.resolution = Some(e);
                self.resolved_at = Some(at);
            }
        }
    }
}

impl LedgerAggregate for MonitoringAlert {
    type Body = MonitoringEvent;
    const KIND: AggregateKind = AggregateKind::MonitoringAlert;

    fn park_id(&self, _id: Uuid) -> Option<Uuid> {
        self.park_id
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::testing::{at, deps_with, id, no_deps};

    const PARK: u64 = 10;
    const OTHER_PARK: u64 = 11;
    const TENANT: u64 = 20;
    const INSPECTION: u64 = 50;
    const INCIDENT: u64 = 60;
    const ALERT: u64 = 70;

    fn text(s: &str) -> Text {
        Text::name(s).unwrap()
    }

    fn exceedance(park: u64, station: &str) -> ExceedanceReceived {
        ExceedanceReceived {
            park_id: id(park),
            station_id: text(station),
            tenant_id: None,
            parameter: MonitoringParameter::Cod,
            value: Decimal::parse("182.5", 6).unwrap(),
            unit: text("mg/L"),
            limit: Decimal::parse("150", 6).unwrap(),
            standard_ref: text("QCVN 40:2011/BTNMT, column B"),
            measured_at: at("2025-06-10T22:55:00Z"),
        }
    }

    fn received() -> Timed<MonitoringEvent> {
        Timed::new(
            at("2025-06-10T23:00:00Z"),
            exceedance(PARK, "DONGAN-1-CETP-OUT"),
        )
    }

    fn interruption(park: u64, station: &str) -> TransmissionInterrupted {
        TransmissionInterrupted {
            park_id: id(park),
            station_id: text(station),
            last_data_at: Some(at("2025-06-10T23:10:00Z")),
            reason: None,
        }
    }

    fn interrupted() -> Timed<MonitoringEvent> {
        Timed::new(
            at("2025-06-10T23:20:00Z"),
            interruption(PARK, "DONGAN-1-CETP-OUT"),
        )
    }

    fn known() -> Deps {
        deps_with(&[
            (AggregateKind::Park, id(PARK)),
            (AggregateKind::Park, id(OTHER_PARK)),
            (AggregateKind::Tenant, id(TENANT)),
            (AggregateKind::Inspection, id(INSPECTION)),
            (AggregateKind::Incident, id(INCIDENT)),
        ])
    }

    fn when(
        command: MonitoringCommand,
        given: Vec<Timed<MonitoringEvent>>,
    ) -> Result<(), DomainError> {
        TestFramework::<MonitoringAlert>::with(known())
            .given(given)
            .when(command)
            .inspect_result()
            .map(|_| ())
    }

    fn rule_of(result: Result<(), DomainError>) -> &'static str {
        match result {
            Err(DomainError::Rule { rule, .. }) => rule,
            other => panic!("expected a rule violation, got {other:?}"),
        }
    }

    fn restore(when: &str) -> MonitoringCommand {
        MonitoringCommand::RestoreTransmission {
            alert_id: id(ALERT),
            occurred_at: at(when),
            event: TransmissionRestored { note: None },
        }
    }

    fn interrupt(when: &str) -> MonitoringCommand {
        MonitoringCommand::InterruptTransmission {
            alert_id: id(ALERT),
            occurred_at: at(when),
            opens: false,
            event: interruption(PARK, "DONGAN-1-CETP-OUT"),
        }
    }

    fn resolve(event: AlertResolved) -> MonitoringCommand {
        MonitoringCommand::Resolve {
            alert_id: id(ALERT),
            occurred_at: at("2025-06-12T02:00:00Z"),
            event,
        }
    }

    #[test]
    fn an_exceedance_at_a_station_of_an_existing_park_opens_an_alert() {
        TestFramework::<MonitoringAlert>::with(known())
            .given_no_previous_events()
            .when(MonitoringCommand::ReceiveExceedance {
                alert_id: id(ALERT),
                occurred_at: at("2025-06-10T23:00:00Z"),
                opens: true,
                event: exceedance(PARK, "DONGAN-1-CETP-OUT"),
            })
            .then_expect_events(vec![received()]);
    }

    #[test]
    fn an_exceedance_in_an_unknown_park_is_refused() {
        let result = TestFramework::<MonitoringAlert>::with(no_deps())
            .given_no_previous_events()
            .when(MonitoringCommand::ReceiveExceedance {
                alert_id: id(ALERT),
                occurred_at: at("2025-06-10T23:00:00Z"),
                opens: true,
                event: exceedance(PARK, "DONGAN-1-CETP-OUT"),
            })
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "park_id",
                ..
            })
        ));
    }

    #[test]
    fn a_measurement_after_its_receipt_is_invalid() {
        let result = when(
            MonitoringCommand::ReceiveExceedance {
                alert_id: id(ALERT),
                occurred_at: at("2025-06-10T22:00:00Z"),
                opens: true,
                event: exceedance(PARK, "DONGAN-1-CETP-OUT"),
            },
            vec![],
        );
        assert!(matches!(
            result,
            Err(DomainError::Invalid {
                field: "measured_at",
                ..
            })
        ));
    }

    #[test]
    fn a_further_exceedance_joins_the_alert_only_from_the_same_station() {
        let join = |park, station: &str| MonitoringCommand::ReceiveExceedance {
            alert_id: id(ALERT),
            occurred_at: at("2025-06-10T23:30:00Z"),
            opens: false,
            event: exceedance(park, station),
        };
        assert!(when(join(PARK, "DONGAN-1-CETP-OUT"), vec![received()]).is_ok());
        assert_eq!(
            rule_of(when(join(PARK, "DONGAN-1-INLET"), vec![received()])),
            "station_mismatch"
        );
        assert_eq!(
            rule_of(when(
                join(OTHER_PARK, "DONGAN-1-CETP-OUT"),
                vec![received()]
            )),
            "station_mismatch"
        );
    }

    #[test]
    fn interruptions_and_restorations_alternate() {
        assert_eq!(
            rule_of(when(restore("2025-06-10T23:30:00Z"), vec![received()])),
            "transmission_not_interrupted"
        );
        assert_eq!(
            rule_of(when(
                interrupt("2025-06-10T23:30:00Z"),
                vec![received(), interrupted()]
            )),
            "transmission_already_interrupted"
        );
        TestFramework::<MonitoringAlert>::with(known())
            .given(vec![received(), interrupted()])
            .when(restore("2025-06-11T03:00:00Z"))
            .then_expect_events(vec![Timed::new(
                at("2025-06-11T03:00:00Z"),
                TransmissionRestored { note: None },
            )]);
        let restored = Timed::new(
            at("2025-06-11T03:00:00Z"),
            TransmissionRestored { note: None },
        );
        assert!(
            when(
                interrupt("2025-06-11T05:00:00Z"),
                vec![received(), interrupted(), restored]
            )
            .is_ok()
        );
    }

    #[test]
    fn an_interruption_may_open_an_alert_of_its_own() {
        TestFramework::<MonitoringAlert>::with(known())
            .given_no_previous_events()
            .when(MonitoringCommand::InterruptTransmission {
                alert_id: id(ALERT),
                occurred_at: at("2025-06-10T23:20:00Z"),
                opens: true,
                event: interruption(PARK, "DONGAN-1-CETP-OUT"),
            })
            .then_expect_events(vec![interrupted()]);
    }

    #[test]
    fn opening_an_alert_twice_is_refused_and_joining_a_missing_one_is_not_found() {
        let open = MonitoringCommand::ReceiveExceedance {
            alert_id: id(ALERT),
            occurred_at: at("2025-06-10T23:30:00Z"),
            opens: true,
            event: exceedance(PARK, "DONGAN-1-CETP-OUT"),
        };
        assert!(matches!(
            when(open, vec![received()]),
            Err(DomainError::AlreadyExists { .. })
        ));
        assert!(matches!(
            when(restore("2025-06-10T23:30:00Z"), vec![]),
            Err(DomainError::NotFound { .. })
        ));
    }

    #[test]
    fn a_resolution_names_an_existing_inspection_or_incident_or_gives_a_reason() {
        assert!(matches!(
            when(
                resolve(AlertResolved {
                    inspection_id: None,
                    incident_id: None,
                    reason: None,
                }),
                vec![received()]
            ),
            Err(DomainError::Invalid {
                field: "reason",
                ..
            })
        ));
        let result = TestFramework::<MonitoringAlert>::with(no_deps())
            .given(vec![received()])
            .when(resolve(AlertResolved {
                inspection_id: None,
                incident_id: Some(id(INCIDENT)),
                reason: None,
            }))
            .inspect_result();
        assert!(matches!(
            result,
            Err(DomainError::UnknownReference {
                field: "incident_id",
                ..
            })
        ));
        let led_to_inspection = AlertResolved {
            inspection_id: Some(id(INSPECTION)),
            incident_id: None,
            reason: None,
        };
        TestFramework::<MonitoringAlert>::with(known())
            .given(vec![received()])
            .when(resolve(led_to_inspection.clone()))
            .then_expect_events(vec![Timed::new(
                at("2025-06-12T02:00:00Z"),
                led_to_inspection,
            )]);
    }

    #[test]
    fn nothing_follows_a_resolution() {
        let resolved = Timed::new(
            at("2025-06-11T02:00:00Z"),
            AlertResolved {
                inspection_id: None,
                incident_id: None,
                reason: Some(text("analyser calibration fault")),
            },
        );
        assert_eq!(
            rule_of(when(
                interrupt("2025-06-11T05:00:00Z"),
                vec![received(), resolved.clone()]
            )),
            "alert_resolved"
        );
        assert_eq!(
            rule_of(when(
                resolve(AlertResolved {
                    inspection_id: None,
                    incident_id: None,
                    reason: Some(text("again")),
                }),
                vec![received(), resolved]
            )),
            "alert_resolved"
        );
    }

    #[test]
    fn business_time_never_goes_back() {
        assert_eq!(
            rule_of(when(
                restore("2025-06-10T23:10:00Z"),
                vec![received(), interrupted()]
            )),
            "business_time_goes_back"
        );
    }

    #[test]
    fn the_payload_is_the_proto3_json_of_the_event() {
        let json = serde_json::to_value(exceedance(PARK, "DONGAN-1-CETP-OUT")).unwrap();
        assert_eq!(json["parameter"], "MONITORING_PARAMETER_COD");
        assert_eq!(json["value"], "182.5");
        assert_eq!(json["limit"], "150");
        assert_eq!(json["measured_at"], "2025-06-10T22:55:00Z");
        assert!(json.get("tenant_id").is_none());
    }
}
