//! How domain events are shaped and stored: the aggregate kinds, the `Timed` wrapper that carries an
//! event's business time, the payload contract (the stored JSON is the proto3 JSON form of the event's
//! message in `events.proto`), schema versions and upcasting.

use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::{Aggregate, DomainEvent};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::deps::{Breach, Deps, LegalRules};
use crate::error::DomainError;

/// The aggregate types of the catalogue; their names are the `aggregate_type` stored in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AggregateKind {
    Authority,
    InfrastructureCompany,
    Park,
    Tenant,
    CoordinationAgreement,
    AnnualPlan,
    InformationExchange,
    IndustryConsultation,
    Inspection,
    Incident,
    MonitoringAlert,
    Dissemination,
    AdministrativeProcedure,
    Principal,
    DeliveryEndpoint,
}

impl AggregateKind {
    pub const ALL: &'static [AggregateKind] = &[
        Self::Authority,
        Self::InfrastructureCompany,
        Self::Park,
        Self::Tenant,
        Self::CoordinationAgreement,
        Self::AnnualPlan,
        Self::InformationExchange,
        Self::IndustryConsultation,
        Self::Inspection,
        Self::Incident,
        Self::MonitoringAlert,
        Self::Dissemination,
        Self::AdministrativeProcedure,
        Self::Principal,
        Self::DeliveryEndpoint,
    ];

    /// The catalogue name, as stored in the log (`Park`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authority => "Authority",
            Self::InfrastructureCompany => "InfrastructureCompany",
            Self::Park => "Park",
            Self::Tenant => "Tenant",
            Self::CoordinationAgreement => "CoordinationAgreement",
            Self::AnnualPlan => "AnnualPlan",
            Self::InformationExchange => "InformationExchange",
            Self::IndustryConsultation => "IndustryConsultation",
            Self::Inspection => "Inspection",
            Self::Incident => "Incident",
            Self::MonitoringAlert => "MonitoringAlert",
            Self::Dissemination => "Dissemination",
            Self::AdministrativeProcedure => "AdministrativeProcedure",
            Self::Principal => "Principal",
            Self::DeliveryEndpoint => "DeliveryEndpoint",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for AggregateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why stored bytes could not be read back as a domain event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("unknown aggregate type {0:?}")]
    UnknownAggregate(String),
    #[error("{event_type} has schema version {found}, newer than this server's {known}")]
    FutureVersion {
        event_type: String,
        found: u32,
        known: u32,
    },
    #[error("{event_type} v{version}: {source}")]
    Json {
        event_type: String,
        version: u32,
        source: serde_json::Error,
    },
}

/// One event message of the catalogue: its JSON form is the stored payload.
///
/// `SCHEMA_VERSION` is the version this server writes. A payload stored under an older version is
/// brought to the current shape by `upcast`, on read, without touching the stored bytes.
pub trait EventPayload: Serialize + DeserializeOwned {
    const SCHEMA_VERSION: u32 = 1;

    /// Rewrites the JSON of an older schema version into the current one.
    fn upcast(from_version: u32, value: serde_json::Value) -> serde_json::Value {
        let _ = from_version;
        value
    }

    /// Reads a stored payload of any known schema version.
    fn decode(event_type: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        let json = |source| DecodeError::Json {
            event_type: event_type.to_owned(),
            version,
            source,
        };
        if version > Self::SCHEMA_VERSION {
            return Err(DecodeError::FutureVersion {
                event_type: event_type.to_owned(),
                found: version,
                known: Self::SCHEMA_VERSION,
            });
        }
        if version == Self::SCHEMA_VERSION {
            return serde_json::from_slice(payload).map_err(json);
        }
        let value = serde_json::from_slice(payload).map_err(json)?;
        serde_json::from_value(Self::upcast(version, value)).map_err(json)
    }
}

/// The events of one aggregate, as an enum with one variant per catalogue event.
pub trait EventBody:
    Serialize + DeserializeOwned + Clone + PartialEq + fmt::Debug + Send + Sync
{
    /// The bare catalogue name (`ParkRegistered`).
    fn event_type(&self) -> &'static str;
    /// The schema version this server writes for the event.
    fn schema_version(&self) -> u32;
    /// The exact bytes to store: the JSON of the event's message.
    fn to_payload(&self) -> Vec<u8>;
    /// Reads stored bytes back, upcasting older schema versions.
    fn from_payload(event_type: &str, version: u32, payload: &[u8]) -> Result<Self, DecodeError>;
}

/// An event with the business time of the act it records; `occurred_at` travels in the envelope,
/// the body is the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timed<B> {
    pub occurred_at: DateTime<Utc>,
    pub body: B,
}

impl<B> Timed<B> {
    pub fn new(occurred_at: DateTime<Utc>, body: impl Into<B>) -> Self {
        Self {
            occurred_at,
            body: body.into(),
        }
    }
}

impl<B: EventBody> DomainEvent for Timed<B> {
    fn event_type(&self) -> String {
        self.body.event_type().to_owned()
    }

    fn event_version(&self) -> String {
        self.body.schema_version().to_string()
    }
}

/// What the command path needs of every aggregate beyond cqrs-es's `Aggregate`.
pub trait LedgerAggregate:
    Aggregate<Error = DomainError, Services = Deps, Event = Timed<Self::Body>>
{
    type Body: EventBody;
    const KIND: AggregateKind;

    /// The park this aggregate belongs to, whose jurisdiction names the acting authority.
    fn park_id(&self, id: Uuid) -> Option<Uuid>;

    /// On whose behalf the new events are recorded (`new` is empty when the command path asks of
    /// the record as it stands, before deciding): by default the park's side. The command path
    /// checks it against the caller's scope ([`crate::scope::check`]) and takes the event's
    /// acting authority from it.
    fn acting_for(&self, id: Uuid, new: &[Timed<Self::Body>]) -> crate::scope::Acting {
        let _ = new;
        crate::scope::Acting::park(self.park_id(id))
    }

    /// The legal limits that the new events breach, judged on the state before them. Breaches are
    /// named in the command's answer; they never refuse the command.
    fn judge(&self, new: &[Timed<Self::Body>], rules: &LegalRules) -> Vec<Breach> {
        let _ = (new, rules);
        Vec::new()
    }

    /// The unique keys the new events claim (a park's code, an enterprise code). The store refuses a
    /// command whose key another aggregate already holds, deciding it in the append transaction so
    /// that two concurrent claims cannot both win.
    fn unique_keys(id: Uuid, new: &[Timed<Self::Body>]) -> Vec<UniqueKey> {
        let _ = (id, new);
        Vec::new()
    }

    /// The unique keys a command is expected to claim, known before it is decided (a
    /// registration's code), so that the store reads their holders with the rest of its batch's
    /// reads instead of one lookup per claim. Only a hint: the store checks the keys the decided
    /// events claim ([`LedgerAggregate::unique_keys`]), looking up any it was not told of.
    fn expected_claims(command: &Self::Command) -> Vec<UniqueKey> {
        let _ = command;
        Vec::new()
    }

    /// Whether [`LedgerAggregate::judge_against_agreements`] has anything to judge in the new
    /// events: only then does the command path load the coordination agreements that applied to
    /// the aggregate's park.
    fn judged_against_agreements(new: &[Timed<Self::Body>]) -> bool {
        let _ = new;
        false
    }

    /// The limits that the coordination agreement in force sets (service levels), judged on the
    /// state before the new events, with the agreements that applied to the aggregate's park.
    fn judge_against_agreements(
        &self,
        new: &[Timed<Self::Body>],
        rules: &LegalRules,
        agreements: &crate::agreement::AgreementsInForce,
    ) -> Vec<Breach> {
        let _ = (new, rules, agreements);
        Vec::new()
    }
}

/// A key only one aggregate may hold, such as a park's code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UniqueKey {
    /// What the key is unique among ("park_code", "company_enterprise_code", …).
    pub scope: &'static str,
    /// The key, normalised as the scope compares it.
    pub key: String,
    /// The request field that gave it, for the caller's message.
    pub field: &'static str,
}

/// Declares an aggregate's event enum from its payload structs and implements [`EventBody`].
#[macro_export]
macro_rules! events {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($variant($variant),)+
        }

        impl $name {
            /// The catalogue names of this aggregate's events.
            pub const EVENT_TYPES: &'static [&'static str] = &[$(stringify!($variant)),+];
        }

        impl $crate::event::EventBody for $name {
            fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($variant),)+
                }
            }

            fn schema_version(&self) -> u32 {
                match self {
                    $(Self::$variant(_) => <$variant as $crate::event::EventPayload>::SCHEMA_VERSION,)+
                }
            }

            fn to_payload(&self) -> Vec<u8> {
                let bytes = match self {
                    $(Self::$variant(e) => serde_json::to_vec(e),)+
                };
                bytes.expect("event payloads are plain data and always serialise")
            }

            fn from_payload(
                event_type: &str,
                version: u32,
                payload: &[u8],
            ) -> Result<Self, $crate::event::DecodeError> {
                match event_type {
                    $(stringify!($variant) => {
                        <$variant as $crate::event::EventPayload>::decode(event_type, version, payload)
                            .map(Self::$variant)
                    })+
                    other => Err($crate::event::DecodeError::UnknownType(other.to_owned())),
                }
            }
        }

        $(impl From<$variant> for $name {
            fn from(e: $variant) -> Self {
                Self::$variant(e)
            }
        })+
    };
}

/// Rejects an event dated before the one it follows of necessity: an answer before its request, a
/// delivery before the decision it delivers, a containment before the detection. Only such pairs
/// are refused; any other event may be dated before an earlier-recorded one (a late report entered
/// after a later-dated permit is a true fact, and is recorded: where a limit applies it is judged).
pub fn not_before_its(
    earlier: Option<DateTime<Utc>>,
    occurred_at: DateTime<Utc>,
    step: &str,
    earlier_step: &str,
) -> Result<(), DomainError> {
    match earlier {
        Some(earlier) if occurred_at < earlier => Err(DomainError::rule(
            "business_time_goes_back",
            format!("{step} at {occurred_at} would precede {earlier_step}, at {earlier}"),
        )),
        _ => Ok(()),
    }
}

/// [`not_before_its`] for steps dated by a local date: a delivery on a day before the decision's
/// issue, a closing before the conclusion.
pub fn not_before_day(
    earlier: Option<chrono::NaiveDate>,
    on: chrono::NaiveDate,
    step: &str,
    earlier_step: &str,
) -> Result<(), DomainError> {
    match earlier {
        Some(earlier) if on < earlier => Err(DomainError::rule(
            "business_time_goes_back",
            format!("{step} on {on} would precede {earlier_step}, on {earlier}"),
        )),
        _ => Ok(()),
    }
}
