//! The request path of every command RPC as a pure function of the request's bytes, for the
//! `cargo fuzz` target in `fuzz/` and for the unit tests below: [`COMMANDS`] has one entry per
//! command RPC of the contract, keyed by its full method path, and each entry decodes the bytes
//! with prost, validates the header and the body, and for a valid body builds the domain command
//! and serialises it as the log would store it.
//!
//! What an entry answers: `Ok(())` for a valid request, `INVALID_ARGUMENT` for bytes that are not
//! the request message or a request with violations, and `INTERNAL` for a bug of the conversion
//! (a header or body that converted to nothing without naming a violation, or a domain command
//! that does not serialise). Any other answer, and any panic, is a bug the fuzzer reports.
//!
//! The header: [`header`] runs the server's own check ([`crate::parse_header`], which
//! `Ledger::header` calls) against the wall clock with the server's default skew of 300 s; only the
//! caller's actor and scope, which come from the authentication layer and not from the bytes, are
//! left out. The header and the body are
//! checked each with their own [`Fields`], so that a body that converts to nothing without a
//! violation is caught even when the header is invalid, and a valid body is built (at the header's
//! `occurred_at`, or at the wall clock when the header is invalid) whatever the header holds.

use chrono::{DateTime, Utc};
use kcn_domain::LedgerAggregate;
use prost::Message;
use serde::Serialize;
use tonic::Status;
use uuid::Uuid;

use super::Command;
use crate::fields::Fields;
use crate::{proto, wire};

/// One entry's check: the request's encoded bytes in, the answer out.
pub type Check = fn(&[u8]) -> Result<(), Status>;

/// How far in the future `occurred_at` may lie: the server's default `max_future_skew_seconds`.
const MAX_FUTURE_SKEW_SECONDS: i64 = 300;

/// Decodes a request message; bytes that are not one are `INVALID_ARGUMENT`.
fn decode<R: Message + Default>(bytes: &[u8]) -> Result<R, Status> {
    R::decode(bytes).map_err(|e| Status::invalid_argument(format!("undecodable request: {e}")))
}

/// The header as the server checks it ([`crate::parse_header`]), against the wall clock with the
/// server's default skew; the parsed `occurred_at` when the header is valid.
pub fn header(header: Option<&proto::CommandHeader>, f: &mut Fields) -> Option<DateTime<Utc>> {
    let latest = Utc::now() + chrono::Duration::seconds(MAX_FUTURE_SKEW_SECONDS);
    crate::parse_header(header, latest, f).map(|h| h.occurred_at)
}

/// The whole path of one command request after decoding: the header, the body's conversion, each
/// `finish()`, and for a valid body the domain command built and serialised.
fn run<R, A>(
    raw_header: Option<proto::CommandHeader>,
    request: R,
    convert: fn(R, &mut Fields) -> Option<Command<A>>,
) -> Result<(), Status>
where
    A: LedgerAggregate,
    A::Command: Serialize,
{
    let mut h = Fields::default();
    let occurred_at = header(raw_header.as_ref(), &mut h);
    let header = h.finish();
    if header.is_ok() && occurred_at.is_none() {
        return Err(Status::internal(
            "a header without violations converted to nothing",
        ));
    }

    let mut f = Fields::default();
    let command = convert(request, &mut f);
    let body = f.finish();
    match (&body, command) {
        (Ok(()), None) => Err(Status::internal(
            "a request without violations converted to nothing",
        )),
        (Ok(()), Some(command)) => {
            let domain = (command.build)(Uuid::now_v7(), occurred_at.unwrap_or_else(Utc::now));
            serde_json::to_vec(&domain).map_err(|e| {
                Status::internal(format!("the domain command does not serialise: {e}"))
            })?;
            header
        }
        // A body with violations may still have converted (it should not, but that is harmless:
        // the service answers the violations and never builds it).
        (Err(_), _) => header.and(body),
    }
}

/// Declares [`COMMANDS`]: per service, each command method with its request message and the
/// `wire::<area>` conversion the service hands to `Ledger::command`.
macro_rules! commands {
    ($($service:ident / $area:ident {
        $($method:ident($request:ident) => $convert:ident),+ $(,)?
    })+) => {
        /// Every command RPC of the contract, by full method path, with its check.
        pub const COMMANDS: &[(&str, Check)] = &[
            $($((
                concat!("/kcn.ledger.v1.", stringify!($service), "/", stringify!($method)),
                |bytes: &[u8]| {
                    let request: proto::$request = decode(bytes)?;
                    let raw_header = request.header.clone();
                    run(raw_header, request, wire::$area::$convert)
                },
            ),)+)+
        ];

        /// The request message of each entry of [`COMMANDS`], in the same order.
        #[cfg(test)]
        const REQUESTS: &[&str] = &[$($(stringify!($request),)+)+];
    };
}

commands! {
    AgreementService / agreement {
        SignAgreement(SignAgreementRequest) => sign,
        AmendAgreement(AmendAgreementRequest) => amend,
        SupersedeAgreement(SupersedeAgreementRequest) => supersede,
    }
    AnnualPlanService / annual_plan {
        IssueAnnualTasks(IssueAnnualTasksRequest) => issue,
        ReportTaskProgress(ReportTaskProgressRequest) => report_progress,
        CompleteTask(CompleteTaskRequest) => complete,
    }
    IndustryConsultationService / consultation {
        OpenConsultation(OpenConsultationRequest) => open,
        SubmitCompanyOpinion(SubmitCompanyOpinionRequest) => submit_opinion,
        DetermineSuitability(DetermineSuitabilityRequest) => determine,
        WithdrawConsultation(WithdrawConsultationRequest) => withdraw,
        LinkConsultationToTenant(LinkConsultationToTenantRequest) => link_to_tenant,
    }
    DisseminationService / dissemination {
        RecordLegalTraining(RecordLegalTrainingRequest) => record_training,
        IssueGuidance(IssueGuidanceRequest) => issue_guidance,
    }
    InformationExchangeService / exchange {
        RequestInformation(RequestInformationRequest) => request,
        ProvideInformation(ProvideInformationRequest) => provide,
        RequestClarification(RequestClarificationRequest) => request_clarification,
        CloseExchange(CloseExchangeRequest) => close,
        WithdrawExchange(WithdrawExchangeRequest) => withdraw,
    }
    IncidentService / incident {
        ReportIncident(ReportIncidentRequest) => report,
        ClassifyIncident(ClassifyIncidentRequest) => classify,
        SendIncidentNotification(SendIncidentNotificationRequest) => notify,
        TakeResponseAction(TakeResponseActionRequest) => take_action,
        EscalateIncident(EscalateIncidentRequest) => escalate,
        ContainIncident(ContainIncidentRequest) => contain,
        ResolveIncident(ResolveIncidentRequest) => resolve,
        ReviewIncident(ReviewIncidentRequest) => review,
    }
    DeliveryService / delivery {
        SkipDeliveryEvent(SkipDeliveryEventRequest) => skip,
    }
    InspectionService / inspection {
        PlanInspection(PlanInspectionRequest) => plan,
        IssueInspectionDecision(IssueInspectionDecisionRequest) => issue_decision,
        DeliverInspectionDecision(DeliverInspectionDecisionRequest) => deliver_decision,
        StartInspection(StartInspectionRequest) => start,
        ExtendInspection(ExtendInspectionRequest) => extend,
        RecordFinding(RecordFindingRequest) => record_finding,
        ConcludeInspection(ConcludeInspectionRequest) => conclude,
        RequireRemediation(RequireRemediationRequest) => require_remediation,
        VerifyRemediation(VerifyRemediationRequest) => verify_remediation,
        ReferForSanction(ReferForSanctionRequest) => refer_for_sanction,
        CloseInspection(CloseInspectionRequest) => close,
    }
    MonitoringService / monitoring {
        ReceiveExceedance(ReceiveExceedanceRequest) => receive_exceedance,
        ReportTransmissionInterrupted(ReportTransmissionInterruptedRequest) => interrupt,
        ReportTransmissionRestored(ReportTransmissionRestoredRequest) => restore,
        ResolveAlert(ResolveAlertRequest) => resolve,
    }
    // IssuePrincipal does not go through `Ledger::command` (it draws a token and stores its hash
    // after the commit), but its conversion is the same shape: header, `wire::principal::issue`.
    PrincipalService / principal {
        IssuePrincipal(IssuePrincipalRequest) => issue,
        ChangePrincipalRole(ChangePrincipalRoleRequest) => change_role,
        RevokePrincipal(RevokePrincipalRequest) => revoke,
    }
    ProcedureService / procedure {
        ReceiveDossier(ReceiveDossierRequest) => receive,
        DecideDossier(DecideDossierRequest) => decide,
    }
    RegistryService / registry {
        EstablishAuthority(EstablishAuthorityRequest) => establish_authority,
        RecordAuthoritySuccession(RecordAuthoritySuccessionRequest) => record_succession,
        RegisterCompany(RegisterCompanyRequest) => register_company,
        ChangeCompanyDetails(ChangeCompanyDetailsRequest) => change_company_details,
        RegisterPark(RegisterParkRequest) => register_park,
        AssignJurisdiction(AssignJurisdictionRequest) => assign_jurisdiction,
        AssignInfrastructureCompany(AssignInfrastructureCompanyRequest) => assign_company,
        SetParkIndustryRules(SetParkIndustryRulesRequest) => set_industry_rules,
        SubmitParkAnnualEnvironmentalReport(SubmitParkAnnualEnvironmentalReportRequest)
            => submit_park_report,
        ReportEnvironmentalInfrastructure(ReportEnvironmentalInfrastructureRequest)
            => report_infrastructure,
        ReportOccupancy(ReportOccupancyRequest) => report_occupancy,
        RecordEcoParkEvidence(RecordEcoParkEvidenceRequest) => record_eco_evidence,
        CertifyEcoPark(CertifyEcoParkRequest) => certify_eco_park,
        RevokeEcoParkCertification(RevokeEcoParkCertificationRequest) => revoke_eco_certification,
        RegisterTenant(RegisterTenantRequest) => register_tenant,
        RecordEnvironmentalPermit(RecordEnvironmentalPermitRequest) => record_permit,
        RecordEnvironmentalCommitment(RecordEnvironmentalCommitmentRequest) => record_commitment,
        SubmitAnnualEnvironmentalReport(SubmitAnnualEnvironmentalReportRequest)
            => submit_tenant_report,
    }
}

/// The fuzz target's input: the first byte chooses the entry of [`COMMANDS`] (modulo its length),
/// the rest is the request message. Empty input is nothing to check.
pub fn check(input: &[u8]) -> Option<(&'static str, Result<(), Status>)> {
    let (&choice, bytes) = input.split_first()?;
    let (method, check) = COMMANDS[usize::from(choice) % COMMANDS.len()];
    Some((method, check(bytes)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use tonic::Code;

    use super::*;

    /// A valid header, at a fixed past instant.
    fn valid_header(request_id: &str) -> Option<proto::CommandHeader> {
        Some(proto::CommandHeader {
            request_id: request_id.to_owned(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_750_000_000,
                nanos: 0,
            }),
            ..Default::default()
        })
    }

    /// A few valid requests, as fuzz-target inputs (entry byte and message).
    fn valid_inputs() -> Vec<Vec<u8>> {
        let id = "0197a8c0-0000-7000-8000-000000000001".to_owned();
        let requests: Vec<(&str, Vec<u8>)> = vec![
            (
                "/kcn.ledger.v1.PrincipalService/IssuePrincipal",
                proto::IssuePrincipalRequest {
                    header: valid_header("seed-issue"),
                    name: "An auditor".to_owned(),
                    role: proto::Role::Auditor as i32,
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            (
                "/kcn.ledger.v1.PrincipalService/RevokePrincipal",
                proto::RevokePrincipalRequest {
                    header: valid_header("seed-revoke"),
                    principal_id: id.clone(),
                    reason: "left the board".to_owned(),
                }
                .encode_to_vec(),
            ),
            (
                "/kcn.ledger.v1.IncidentService/ReportIncident",
                proto::ReportIncidentRequest {
                    header: valid_header("seed-incident"),
                    park_id: id.clone(),
                    kind: proto::IncidentKind::Spill as i32,
                    detected_at: Some(prost_types::Timestamp {
                        seconds: 1_749_990_000,
                        nanos: 0,
                    }),
                    location: "Wastewater plant, basin 2".to_owned(),
                    description: "Oil on the surface of the basin.".to_owned(),
                    reported_by: Some(proto::OrganisationRef {
                        kind: proto::OrganisationKind::Authority as i32,
                        id: id.clone(),
                    }),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
        ];
        requests
            .into_iter()
            .map(|(method, message)| {
                let index = COMMANDS.iter().position(|(m, _)| *m == method).unwrap();
                let mut input = vec![u8::try_from(index).unwrap()];
                input.extend(message);
                input
            })
            .collect()
    }

    /// The answer is one a caller may get from the conversion: success or `INVALID_ARGUMENT`.
    fn assert_expected(method: &str, input: &[u8], answer: &Result<(), Status>) {
        if let Err(status) = answer {
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{method} answered {status:?} to {input:02x?}"
            );
        }
    }

    #[test]
    fn the_table_covers_exactly_the_command_rpcs_of_the_contract() {
        let pool = prost_reflect::DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut contract = BTreeSet::new();
        for service in pool.services() {
            for method in service.methods() {
                let input = method.input();
                if input.get_field_by_name("header").is_some() {
                    contract.insert((
                        format!("/{}/{}", service.full_name(), method.name()),
                        input.full_name().to_owned(),
                    ));
                }
            }
        }
        let table: Vec<(String, String)> = COMMANDS
            .iter()
            .zip(REQUESTS)
            .map(|((method, _), request)| {
                ((*method).to_owned(), format!("kcn.ledger.v1.{request}"))
            })
            .collect();
        let listed: BTreeSet<_> = table.iter().cloned().collect();
        assert_eq!(listed.len(), table.len(), "an RPC is listed twice");
        assert_eq!(listed, contract);
        // The fuzz target's first byte must be able to reach every entry.
        assert!(COMMANDS.len() <= 256);
    }

    #[test]
    fn valid_requests_build_and_serialise() {
        for input in valid_inputs() {
            let (method, answer) = check(&input).unwrap();
            assert!(answer.is_ok(), "{method}: {answer:?}");
        }
    }

    #[test]
    fn empty_and_garbage_bytes_are_refused_not_panicked_on() {
        let garbage: &[&[u8]] = &[
            b"",
            b"\x00",
            b"\xff",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
            // The header (field 1) as a length-delimited message longer than the input.
            b"\x0a\x7f",
            // Field 1 with wire type 7, which does not exist.
            b"\x0f",
            // A header whose request_id is invalid UTF-8.
            b"\x0a\x04\x0a\x02\xc3\x28",
            // A header whose occurred_at is the largest seconds and negative nanos.
            b"\x0a\x12\x12\x10\x08\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x10\xff\xff\xff\xff\x0f",
            // Deeply nested groups.
            &[0x0b; 200],
            b"not a protobuf message at all",
        ];
        for (method, check) in COMMANDS {
            for bytes in garbage {
                assert_expected(method, bytes, &check(bytes));
            }
        }
        assert!(super::check(b"").is_none());
    }

    /// Writes the fuzz target's seed corpus, `fuzz/corpus/commands/`, from [`valid_inputs`]:
    /// `cargo test -p kcn-services --lib fuzzing -- --ignored write_seed_corpus`.
    #[test]
    #[ignore = "writes the fuzz target's seed corpus"]
    fn write_seed_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/commands");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, input) in valid_inputs().into_iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), input).unwrap();
        }
    }

    proptest! {
        #[test]
        fn random_bytes_are_refused_not_panicked_on(
            input in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            if let Some((method, answer)) = check(&input) {
                assert_expected(method, &input, &answer);
            }
        }

        #[test]
        fn mutated_valid_requests_are_refused_not_panicked_on(
            seed in 0usize..3,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut input = valid_inputs().swap_remove(seed);
            for (at, byte) in flips {
                // Keep the entry byte: mutate the message.
                let i = 1 + at.index(input.len() - 1);
                input[i] = byte;
            }
            let (method, answer) = check(&input).unwrap();
            assert_expected(method, &input, &answer);
        }
    }
}
