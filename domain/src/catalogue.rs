//! The whole event catalogue as one type: [`Event`] has a variant per aggregate kind, each holding
//! that aggregate's event enum, so a reader of the log (the read models) decodes a stored event once
//! and matches on typed variants. Renaming or removing an event breaks every match on it at compile
//! time, which a match on the event's name string would not.

use crate::agreement::AgreementEvent;
use crate::annual_plan::AnnualPlanEvent;
use crate::authority::AuthorityEvent;
use crate::company::CompanyEvent;
use crate::consultation::ConsultationEvent;
use crate::delivery::DeliveryEvent;
use crate::dissemination::DisseminationEvent;
use crate::event::{AggregateKind, DecodeError, EventBody};
use crate::incident::IncidentEvent;
use crate::information_exchange::ExchangeEvent;
use crate::inspection::InspectionEvent;
use crate::monitoring::MonitoringEvent;
use crate::park::ParkEvent;
use crate::principal::PrincipalEvent;
use crate::procedure::ProcedureEvent;
use crate::tenant::TenantEvent;

/// Declares [`Event`] over the aggregate kinds and their event enums, with its decoding and its
/// accessors, so that the list of kinds is written once.
macro_rules! catalogue {
    ($($kind:ident($body:ident)),+ $(,)?) => {
        /// Any event of the catalogue: the aggregate kind it belongs to, with its typed body.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Event {
            $($kind($body),)+
        }

        impl Event {
            /// Reads a stored event: its aggregate type and event type as the log names them, its
            /// schema version and payload bytes (upcasting an older schema version).
            pub fn decode(
                aggregate_type: &str,
                event_type: &str,
                schema_version: u32,
                payload: &[u8],
            ) -> Result<Self, DecodeError> {
                match AggregateKind::parse(aggregate_type) {
                    $(Some(AggregateKind::$kind) => {
                        <$body as EventBody>::from_payload(event_type, schema_version, payload)
                            .map(Self::$kind)
                    })+
                    None => Err(DecodeError::UnknownAggregate(aggregate_type.to_owned())),
                }
            }

            /// The aggregate kind the event belongs to.
            pub fn kind(&self) -> AggregateKind {
                match self {
                    $(Self::$kind(_) => AggregateKind::$kind,)+
                }
            }

            /// Every event type name of the catalogue, aggregate by aggregate.
            pub fn event_types() -> impl Iterator<Item = &'static str> {
                [$($body::EVENT_TYPES),+].into_iter().flatten().copied()
            }

            /// The bare catalogue name of the event (`ParkRegistered`).
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$kind(b) => b.event_type(),)+
                }
            }
        }

        $(impl From<$body> for Event {
            fn from(b: $body) -> Self {
                Self::$kind(b)
            }
        })+
    };
}

catalogue!(
    Authority(AuthorityEvent),
    InfrastructureCompany(CompanyEvent),
    Park(ParkEvent),
    Tenant(TenantEvent),
    CoordinationAgreement(AgreementEvent),
    AnnualPlan(AnnualPlanEvent),
    InformationExchange(ExchangeEvent),
    IndustryConsultation(ConsultationEvent),
    Inspection(InspectionEvent),
    Incident(IncidentEvent),
    MonitoringAlert(MonitoringEvent),
    Dissemination(DisseminationEvent),
    AdministrativeProcedure(ProcedureEvent),
    Principal(PrincipalEvent),
    DeliveryEndpoint(DeliveryEvent),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventPayload;

    #[test]
    fn every_aggregate_kind_has_a_variant() {
        // `decode` names every kind of `AggregateKind::ALL`; an unknown event type of a known kind is
        // an unknown type, not an unknown aggregate.
        for kind in AggregateKind::ALL {
            let err = Event::decode(kind.as_str(), "NoSuchEvent", 1, b"{}").unwrap_err();
            assert!(matches!(err, DecodeError::UnknownType(_)), "{kind}: {err}");
        }
        assert!(matches!(
            Event::decode("Nothing", "X", 1, b"{}"),
            Err(DecodeError::UnknownAggregate(_))
        ));
    }

    #[test]
    fn the_catalogue_names_every_event_once() {
        let mut names: Vec<&str> = Event::event_types().collect();
        assert_eq!(names.len(), 65, "the catalogue's events");
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 65, "no name is used twice");
        assert!(names.contains(&"JurisdictionAssigned"));
    }

    #[test]
    fn a_stored_event_decodes_into_its_typed_variant() {
        let body = crate::company::CompanyDetailsChanged {
            name: None,
            address: None,
        };
        let payload = serde_json::to_vec(&body).unwrap();
        let e = Event::decode(
            "InfrastructureCompany",
            "CompanyDetailsChanged",
            <crate::company::CompanyDetailsChanged as EventPayload>::SCHEMA_VERSION,
            &payload,
        )
        .unwrap();
        assert_eq!(e.kind(), AggregateKind::InfrastructureCompany);
        assert_eq!(e.event_type(), "CompanyDetailsChanged");
        assert!(matches!(
            e,
            Event::InfrastructureCompany(CompanyEvent::CompanyDetailsChanged(_))
        ));
    }
}
