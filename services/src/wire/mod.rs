//! The conversions between the wire and the domain, one file per area: each command request becomes
//! a [`Command`] (every field validated, every violation collected at once), and each aggregate
//! becomes its `Get…` response. The gRPC methods only hand these functions to the generic paths of
//! [`crate::Ledger`]. This file holds what the areas share: the command shape, and the messages that
//! several areas use (organisations, VSIC codes, pollution levels, attachments).

pub mod agreement;
pub mod annual_plan;
pub mod consultation;
pub mod delivery;
pub mod dissemination;
pub mod exchange;
pub mod fuzzing;
pub mod incident;
pub mod inspection;
pub mod monitoring;
pub mod principal;
pub mod procedure;
pub mod registry;

use chrono::{DateTime, Utc};
use kcn_domain::LedgerAggregate;
use kcn_domain::consultation::PollutionLevel;
use kcn_domain::information_exchange::{Attachment, OrganisationKind, OrganisationRef};
use kcn_domain::values::{Sha256Hex, Text, ValueError, VsicCode, max_items};
use kcn_eventstore::Target;
use uuid::Uuid;

use crate::fields::{self, Fields};
use crate::proto;

/// Builds a domain command once the log has chosen the aggregate's id, at the header's business
/// time. It may run more than once (a conflict is decided again on the fresh state).
pub type Build<A> =
    Box<dyn Fn(Uuid, DateTime<Utc>) -> <A as cqrs_es::Aggregate>::Command + Send + Sync>;

/// What a valid command request converts into: the aggregate it addresses and how to build the
/// domain command for it.
pub struct Command<A: LedgerAggregate> {
    pub target: Target,
    pub build: Build<A>,
}

impl<A: LedgerAggregate> Command<A> {
    /// A command that creates a new aggregate; the log assigns its id.
    pub fn new(build: impl Fn(Uuid, DateTime<Utc>) -> A::Command + Send + Sync + 'static) -> Self {
        Self::to(Target::New, build)
    }

    /// A command on the existing aggregate `id`.
    pub fn on(
        id: Uuid,
        build: impl Fn(Uuid, DateTime<Utc>) -> A::Command + Send + Sync + 'static,
    ) -> Self {
        Self::to(Target::Existing(id), build)
    }

    /// A command on `target`.
    pub fn to(
        target: Target,
        build: impl Fn(Uuid, DateTime<Utc>) -> A::Command + Send + Sync + 'static,
    ) -> Self {
        Self {
            target,
            build: Box::new(build),
        }
    }
}

/// A command request: it carries the command header.
pub trait CommandRequest {
    fn header(&self) -> Option<&proto::CommandHeader>;
}

/// A command response: it carries the committed outcome.
pub trait CommandResponse {
    fn from_outcome(outcome: proto::CommandOutcome) -> Self;
}

/// Declares the request and response of each command RPC as such.
macro_rules! command_messages {
    ($($request:ident => $response:ident),+ $(,)?) => {
        $(
            impl CommandRequest for proto::$request {
                fn header(&self) -> Option<&proto::CommandHeader> {
                    self.header.as_ref()
                }
            }

            impl CommandResponse for proto::$response {
                fn from_outcome(outcome: proto::CommandOutcome) -> Self {
                    Self { outcome: Some(outcome) }
                }
            }
        )+
    };
}

command_messages!(
    SkipDeliveryEventRequest => SkipDeliveryEventResponse,
    ChangePrincipalRoleRequest => ChangePrincipalRoleResponse,
    RevokePrincipalRequest => RevokePrincipalResponse,
    SignAgreementRequest => SignAgreementResponse,
    AmendAgreementRequest => AmendAgreementResponse,
    SupersedeAgreementRequest => SupersedeAgreementResponse,
    IssueAnnualTasksRequest => IssueAnnualTasksResponse,
    ReportTaskProgressRequest => ReportTaskProgressResponse,
    CompleteTaskRequest => CompleteTaskResponse,
    OpenConsultationRequest => OpenConsultationResponse,
    SubmitCompanyOpinionRequest => SubmitCompanyOpinionResponse,
    DetermineSuitabilityRequest => DetermineSuitabilityResponse,
    WithdrawConsultationRequest => WithdrawConsultationResponse,
    LinkConsultationToTenantRequest => LinkConsultationToTenantResponse,
    RecordLegalTrainingRequest => RecordLegalTrainingResponse,
    IssueGuidanceRequest => IssueGuidanceResponse,
    RequestInformationRequest => RequestInformationResponse,
    ProvideInformationRequest => ProvideInformationResponse,
    RequestClarificationRequest => RequestClarificationResponse,
    CloseExchangeRequest => CloseExchangeResponse,
    WithdrawExchangeRequest => WithdrawExchangeResponse,
    ReportIncidentRequest => ReportIncidentResponse,
    ClassifyIncidentRequest => ClassifyIncidentResponse,
    SendIncidentNotificationRequest => SendIncidentNotificationResponse,
    TakeResponseActionRequest => TakeResponseActionResponse,
    EscalateIncidentRequest => EscalateIncidentResponse,
    ContainIncidentRequest => ContainIncidentResponse,
    ResolveIncidentRequest => ResolveIncidentResponse,
    ReviewIncidentRequest => ReviewIncidentResponse,
    PlanInspectionRequest => PlanInspectionResponse,
    IssueInspectionDecisionRequest => IssueInspectionDecisionResponse,
    DeliverInspectionDecisionRequest => DeliverInspectionDecisionResponse,
    StartInspectionRequest => StartInspectionResponse,
    ExtendInspectionRequest => ExtendInspectionResponse,
    RecordFindingRequest => RecordFindingResponse,
    ConcludeInspectionRequest => ConcludeInspectionResponse,
    RequireRemediationRequest => RequireRemediationResponse,
    VerifyRemediationRequest => VerifyRemediationResponse,
    ReferForSanctionRequest => ReferForSanctionResponse,
    CloseInspectionRequest => CloseInspectionResponse,
    ReceiveExceedanceRequest => ReceiveExceedanceResponse,
    ReportTransmissionInterruptedRequest => ReportTransmissionInterruptedResponse,
    ReportTransmissionRestoredRequest => ReportTransmissionRestoredResponse,
    ResolveAlertRequest => ResolveAlertResponse,
    ReceiveDossierRequest => ReceiveDossierResponse,
    DecideDossierRequest => DecideDossierResponse,
    EstablishAuthorityRequest => EstablishAuthorityResponse,
    RecordAuthoritySuccessionRequest => RecordAuthoritySuccessionResponse,
    RegisterCompanyRequest => RegisterCompanyResponse,
    ChangeCompanyDetailsRequest => ChangeCompanyDetailsResponse,
    RegisterParkRequest => RegisterParkResponse,
    AssignJurisdictionRequest => AssignJurisdictionResponse,
    AssignInfrastructureCompanyRequest => AssignInfrastructureCompanyResponse,
    SetParkIndustryRulesRequest => SetParkIndustryRulesResponse,
    SubmitParkAnnualEnvironmentalReportRequest => SubmitParkAnnualEnvironmentalReportResponse,
    ReportEnvironmentalInfrastructureRequest => ReportEnvironmentalInfrastructureResponse,
    ReportOccupancyRequest => ReportOccupancyResponse,
    RecordEcoParkEvidenceRequest => RecordEcoParkEvidenceResponse,
    CertifyEcoParkRequest => CertifyEcoParkResponse,
    RevokeEcoParkCertificationRequest => RevokeEcoParkCertificationResponse,
    RegisterTenantRequest => RegisterTenantResponse,
    RecordEnvironmentalPermitRequest => RecordEnvironmentalPermitResponse,
    RecordEnvironmentalCommitmentRequest => RecordEnvironmentalCommitmentResponse,
    SubmitAnnualEnvironmentalReportRequest => SubmitAnnualEnvironmentalReportResponse,
);

/// Declares the two conversions between a proto enum and the domain enum whose variants have the
/// same names: from the wire (refusing `*_UNSPECIFIED` and unknown numbers, naming the prefix a
/// caller must use) and to the wire.
#[macro_export]
macro_rules! wire_enum {
    ($from:ident, $to:ident, $proto:path, $domain:ident, $prefix:literal, [$($variant:ident),+ $(,)?]) => {
        pub(crate) fn $from(raw: i32) -> Result<$domain, kcn_domain::values::ValueError> {
            use $proto as P;
            match P::try_from(raw) {
                $(Ok(P::$variant) => Ok($domain::$variant),)+
                _ => Err(kcn_domain::values::ValueError(
                    concat!("must be a known ", $prefix, "_* value").into(),
                )),
            }
        }

        pub(crate) fn $to(value: $domain) -> i32 {
            use $proto as P;
            (match value {
                $($domain::$variant => P::$variant,)+
            }) as i32
        }
    };
}

/// A list of UUIDs, each named by its index.
pub fn uuids(
    f: &mut Fields,
    field: &str,
    raw: &[String],
    bounds: (usize, usize),
) -> Option<Vec<Uuid>> {
    f.list(field, raw, bounds, |f, name, id| {
        f.check(name, fields::uuid(id))
    })
}

/// UUIDs as the wire's strings.
pub fn uuid_strings(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(Uuid::to_string).collect()
}

/// A required party: an authority or an infrastructure company, by kind and id.
pub fn organisation(
    f: &mut Fields,
    field: &str,
    raw: Option<&proto::OrganisationRef>,
) -> Option<OrganisationRef> {
    use proto::OrganisationKind as P;
    f.required(field, raw, "an organisation kind and id", |f, r| {
        let kind = match P::try_from(r.kind) {
            Ok(P::Authority) => Some(OrganisationKind::Authority),
            Ok(P::InfrastructureCompany) => Some(OrganisationKind::InfrastructureCompany),
            _ => {
                f.violation(
                    &format!("{field}.kind"),
                    "must be ORGANISATION_KIND_AUTHORITY or ORGANISATION_KIND_INFRASTRUCTURE_COMPANY",
                );
                None
            }
        };
        let id = f.check(&format!("{field}.id"), fields::uuid(&r.id));
        Some(OrganisationRef {
            kind: kind?,
            id: id?,
        })
    })
}

/// A party as the wire's `OrganisationRef`.
pub fn organisation_to_proto(o: &OrganisationRef) -> proto::OrganisationRef {
    use proto::OrganisationKind as P;
    proto::OrganisationRef {
        kind: match o.kind {
            OrganisationKind::Authority => P::Authority,
            OrganisationKind::InfrastructureCompany => P::InfrastructureCompany,
        } as i32,
        id: o.id.to_string(),
    }
}

/// A pollution level of the contract; `UNSPECIFIED` is refused (say `NONE` for an unlisted type).
pub fn pollution_level(raw: i32) -> Result<PollutionLevel, ValueError> {
    use proto::PollutionLevel as P;
    match P::try_from(raw) {
        Ok(P::None) => Ok(PollutionLevel::None),
        Ok(P::Iii) => Ok(PollutionLevel::III),
        Ok(P::Ii) => Ok(PollutionLevel::II),
        Ok(P::I) => Ok(PollutionLevel::I),
        Ok(P::Unspecified) | Err(_) => Err(ValueError(
            "must be POLLUTION_LEVEL_NONE, _III, _II or _I (Annex II of Decree 08/2022)".into(),
        )),
    }
}

/// A pollution level as the wire's enum number.
pub fn pollution_level_to_proto(level: PollutionLevel) -> i32 {
    (match level {
        PollutionLevel::None => proto::PollutionLevel::None,
        PollutionLevel::III => proto::PollutionLevel::Iii,
        PollutionLevel::II => proto::PollutionLevel::Ii,
        PollutionLevel::I => proto::PollutionLevel::I,
    }) as i32
}

/// One VSIC code with its version.
pub fn vsic(f: &mut Fields, field: &str, v: &proto::VsicCode) -> Option<VsicCode> {
    f.check(field, VsicCode::parse(&v.code, &v.version))
}

/// A list of VSIC codes, each malformed one named by its index.
pub fn vsic_codes(
    f: &mut Fields,
    field: &str,
    raw: &[proto::VsicCode],
    bounds: (usize, usize),
) -> Option<Vec<VsicCode>> {
    f.list(field, raw, bounds, vsic)
}

/// A VSIC code as the wire's message.
pub fn vsic_to_proto(v: &VsicCode) -> proto::VsicCode {
    proto::VsicCode {
        code: v.code.clone(),
        version: v.version.clone(),
    }
}

/// The attachments of an answer or opinion (at most [`max_items::ATTACHMENTS`]), each a name and
/// a SHA-256.
pub fn attachments(f: &mut Fields, raw: &[proto::Attachment]) -> Option<Vec<Attachment>> {
    f.list(
        "attachments",
        raw,
        (0, max_items::ATTACHMENTS),
        |f, field, a| {
            let name = f.check(&format!("{field}.name"), Text::name(&a.name));
            let sha256 = f.check(&format!("{field}.sha256"), Sha256Hex::parse(&a.sha256));
            Some(Attachment {
                name: name?,
                sha256: sha256?,
            })
        },
    )
}

/// An attachment as the wire's message.
pub fn attachment_to_proto(a: &Attachment) -> proto::Attachment {
    proto::Attachment {
        name: a.name.to_string(),
        sha256: a.sha256.as_str().to_owned(),
    }
}
