//! Who may call what: the one table of every RPC and the roles allowed to call it, written to be
//! checked against the coordination regulation. A company reports an incident, answers the Board's
//! requests and asks for a consultation; the Board determines suitability, issues inspection
//! decisions and annual tasks; both exchange information; an auditor reads everything and writes
//! nothing; an integration (an e-government platform) reads the log and its proofs and submits
//! monitoring alerts; an administrator keeps principals and the registry of who is who and records
//! no business act.
//!
//! The authentication layer ([`crate::auth`]) looks a call's method up here after it has
//! authenticated the caller; a method of the contract that is missing from the table is refused
//! to everyone (and a test generated from the service descriptors fails), so a new RPC cannot be
//! served by mistake. Health is the one service served without a credential; reflection is served
//! to any authenticated caller.

use kcn_domain::principal::Role;
use kcn_domain::scope::Scope;
use kcn_eventstore::Actor;
use uuid::Uuid;

use Role::Integration;
use Role::{Administrator as Admin, Auditor, BoardOfficer as Board, CompanyOfficer as Company};

/// Who is calling, as the authentication layer established it; handed to the services in the
/// request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The principal's id (its stream in the log), or the embedding program's name.
    pub principal: String,
    /// `None` only for the in-process identity of a program that embeds the server.
    pub role: Option<Role>,
    pub organisation_id: Option<Uuid>,
    /// How it was established: `bearer_token`, or `embedded`.
    pub authentication: &'static str,
}

impl Identity {
    /// Whom the caller acts for: a Board officer for its authority, a company officer for its
    /// company (one without an organisation acts for none, and is refused every record); the other
    /// roles are not narrowed to an organisation.
    pub fn scope(&self) -> Scope {
        let organisation = self.organisation_id.unwrap_or(Uuid::nil());
        match self.role {
            Some(Board) => Scope::Authority(organisation),
            Some(Company) => Scope::Company(organisation),
            _ => Scope::Unrestricted,
        }
    }

    /// The actor an event records for this caller.
    pub fn actor(&self) -> Actor {
        Actor {
            principal: self.principal.clone(),
            organisation: self.organisation_id.map(|o| o.to_string()),
            role: self.role.map(|r| r.as_str().to_owned()),
            authentication: self.authentication.to_owned(),
        }
    }
}

/// The roles that read the registry and the business records.
const READERS: &[Role] = &[Board, Company, Auditor];
/// Those, and the administrator who keeps the registry.
const REGISTRY_READERS: &[Role] = &[Board, Company, Auditor, Admin];
/// Every role: the log's public proofs.
const EVERYONE: &[Role] = &[Board, Company, Auditor, Integration, Admin];
const BOTH_SIDES: &[Role] = &[Board, Company];

/// Every RPC of the contract and who may call it. The full method path, as on the wire.
pub const RULES: &[(&str, &[Role])] = &[
    // The registry of who is who: authorities, companies, parks and their assignments are the
    // province's configuration, kept by the administrator.
    (
        "/kcn.ledger.v1.RegistryService/EstablishAuthority",
        &[Admin],
    ),
    (
        "/kcn.ledger.v1.RegistryService/RecordAuthoritySuccession",
        &[Admin],
    ),
    ("/kcn.ledger.v1.RegistryService/RegisterCompany", &[Admin]),
    (
        "/kcn.ledger.v1.RegistryService/ChangeCompanyDetails",
        &[Admin],
    ),
    ("/kcn.ledger.v1.RegistryService/RegisterPark", &[Admin]),
    (
        "/kcn.ledger.v1.RegistryService/AssignJurisdiction",
        &[Admin],
    ),
    (
        "/kcn.ledger.v1.RegistryService/AssignInfrastructureCompany",
        &[Admin],
    ),
    (
        "/kcn.ledger.v1.RegistryService/GetAuthority",
        REGISTRY_READERS,
    ),
    (
        "/kcn.ledger.v1.RegistryService/GetCompany",
        REGISTRY_READERS,
    ),
    ("/kcn.ledger.v1.RegistryService/GetPark", REGISTRY_READERS),
    ("/kcn.ledger.v1.RegistryService/GetTenant", REGISTRY_READERS),
    // Which industries a park admits follows its approved planning: the Board sets it.
    (
        "/kcn.ledger.v1.RegistryService/SetParkIndustryRules",
        &[Board],
    ),
    // The company reports on the park it runs.
    (
        "/kcn.ledger.v1.RegistryService/SubmitParkAnnualEnvironmentalReport",
        &[Company],
    ),
    (
        "/kcn.ledger.v1.RegistryService/ReportEnvironmentalInfrastructure",
        &[Company],
    ),
    ("/kcn.ledger.v1.RegistryService/ReportOccupancy", &[Company]),
    (
        "/kcn.ledger.v1.RegistryService/RecordEcoParkEvidence",
        &[Company],
    ),
    // The Board certifies an eco-industrial park and revokes the certification.
    ("/kcn.ledger.v1.RegistryService/CertifyEcoPark", &[Board]),
    (
        "/kcn.ledger.v1.RegistryService/RevokeEcoParkCertification",
        &[Board],
    ),
    // Tenants and their commitments are known to both sides (the company leases the land, the
    // Board registers the investment), and a tenant is part of the registry of who is who that the
    // administrator keeps; a permit is issued by an authority and recorded by the Board.
    (
        "/kcn.ledger.v1.RegistryService/RegisterTenant",
        &[Board, Company, Admin],
    ),
    (
        "/kcn.ledger.v1.RegistryService/RecordEnvironmentalPermit",
        &[Board],
    ),
    (
        "/kcn.ledger.v1.RegistryService/RecordEnvironmentalCommitment",
        BOTH_SIDES,
    ),
    (
        "/kcn.ledger.v1.RegistryService/SubmitAnnualEnvironmentalReport",
        BOTH_SIDES,
    ),
    // Information is exchanged both ways.
    (
        "/kcn.ledger.v1.InformationExchangeService/RequestInformation",
        BOTH_SIDES,
    ),
    (
        "/kcn.ledger.v1.InformationExchangeService/ProvideInformation",
        BOTH_SIDES,
    ),
    (
        "/kcn.ledger.v1.InformationExchangeService/RequestClarification",
        BOTH_SIDES,
    ),
    (
        "/kcn.ledger.v1.InformationExchangeService/CloseExchange",
        BOTH_SIDES,
    ),
    (
        "/kcn.ledger.v1.InformationExchangeService/WithdrawExchange",
        BOTH_SIDES,
    ),
    (
        "/kcn.ledger.v1.InformationExchangeService/GetExchange",
        READERS,
    ),
    // A coordination agreement is signed, amended and superseded by its two parties.
    ("/kcn.ledger.v1.AgreementService/SignAgreement", BOTH_SIDES),
    ("/kcn.ledger.v1.AgreementService/AmendAgreement", BOTH_SIDES),
    (
        "/kcn.ledger.v1.AgreementService/SupersedeAgreement",
        BOTH_SIDES,
    ),
    ("/kcn.ledger.v1.AgreementService/GetAgreement", READERS),
    // The Board issues annual tasks and accepts them as done; the company reports its progress.
    (
        "/kcn.ledger.v1.AnnualPlanService/IssueAnnualTasks",
        &[Board],
    ),
    (
        "/kcn.ledger.v1.AnnualPlanService/ReportTaskProgress",
        &[Company],
    ),
    ("/kcn.ledger.v1.AnnualPlanService/CompleteTask", &[Board]),
    ("/kcn.ledger.v1.AnnualPlanService/GetAnnualPlan", READERS),
    // The company asks whether an industry may come into its park and gives its opinion; the Board
    // determines suitability.
    (
        "/kcn.ledger.v1.IndustryConsultationService/OpenConsultation",
        &[Company],
    ),
    (
        "/kcn.ledger.v1.IndustryConsultationService/SubmitCompanyOpinion",
        &[Company],
    ),
    (
        "/kcn.ledger.v1.IndustryConsultationService/DetermineSuitability",
        &[Board],
    ),
    (
        "/kcn.ledger.v1.IndustryConsultationService/WithdrawConsultation",
        &[Company],
    ),
    (
        "/kcn.ledger.v1.IndustryConsultationService/LinkConsultationToTenant",
        BOTH_SIDES,
    ),
    (
        "/kcn.ledger.v1.IndustryConsultationService/GetConsultation",
        READERS,
    ),
    // The Board disseminates environmental law.
    (
        "/kcn.ledger.v1.DisseminationService/RecordLegalTraining",
        &[Board],
    ),
    (
        "/kcn.ledger.v1.DisseminationService/IssueGuidance",
        &[Board],
    ),
    (
        "/kcn.ledger.v1.DisseminationService/GetDissemination",
        READERS,
    ),
    // The company reports an incident; both sides classify, notify, respond and resolve it; the
    // Board reviews it afterwards.
    ("/kcn.ledger.v1.IncidentService/ReportIncident", &[Company]),
    (
        "/kcn.ledger.v1.IncidentService/ClassifyIncident",
        BOTH_SIDES,
    ),
    (
        "/kcn.ledger.v1.IncidentService/SendIncidentNotification",
        BOTH_SIDES,
    ),
    (
        "/kcn.ledger.v1.IncidentService/TakeResponseAction",
        BOTH_SIDES,
    ),
    (
        "/kcn.ledger.v1.IncidentService/EscalateIncident",
        BOTH_SIDES,
    ),
    ("/kcn.ledger.v1.IncidentService/ContainIncident", BOTH_SIDES),
    ("/kcn.ledger.v1.IncidentService/ResolveIncident", BOTH_SIDES),
    ("/kcn.ledger.v1.IncidentService/ReviewIncident", &[Board]),
    ("/kcn.ledger.v1.IncidentService/GetIncident", READERS),
    // Inspections are the Board's, from plan to closure.
    ("/kcn.ledger.v1.InspectionService/PlanInspection", &[Board]),
    (
        "/kcn.ledger.v1.InspectionService/IssueInspectionDecision",
        &[Board],
    ),
    (
        "/kcn.ledger.v1.InspectionService/DeliverInspectionDecision",
        &[Board],
    ),
    ("/kcn.ledger.v1.InspectionService/StartInspection", &[Board]),
    (
        "/kcn.ledger.v1.InspectionService/ExtendInspection",
        &[Board],
    ),
    ("/kcn.ledger.v1.InspectionService/RecordFinding", &[Board]),
    (
        "/kcn.ledger.v1.InspectionService/ConcludeInspection",
        &[Board],
    ),
    (
        "/kcn.ledger.v1.InspectionService/RequireRemediation",
        &[Board],
    ),
    (
        "/kcn.ledger.v1.InspectionService/VerifyRemediation",
        &[Board],
    ),
    (
        "/kcn.ledger.v1.InspectionService/ReferForSanction",
        &[Board],
    ),
    ("/kcn.ledger.v1.InspectionService/CloseInspection", &[Board]),
    ("/kcn.ledger.v1.InspectionService/GetInspection", READERS),
    // Monitoring stations reach the ledger through the province's platform; the Board resolves.
    (
        "/kcn.ledger.v1.MonitoringService/ReceiveExceedance",
        &[Integration],
    ),
    (
        "/kcn.ledger.v1.MonitoringService/ReportTransmissionInterrupted",
        &[Integration],
    ),
    (
        "/kcn.ledger.v1.MonitoringService/ReportTransmissionRestored",
        &[Integration],
    ),
    ("/kcn.ledger.v1.MonitoringService/ResolveAlert", &[Board]),
    (
        "/kcn.ledger.v1.MonitoringService/GetAlert",
        &[Board, Company, Auditor, Integration],
    ),
    // Administrative procedures are received and decided by the Board.
    ("/kcn.ledger.v1.ProcedureService/ReceiveDossier", &[Board]),
    ("/kcn.ledger.v1.ProcedureService/DecideDossier", &[Board]),
    ("/kcn.ledger.v1.ProcedureService/GetDossier", READERS),
    // The directory of who is who.
    (
        "/kcn.ledger.v1.DirectoryService/ListAuthorities",
        REGISTRY_READERS,
    ),
    (
        "/kcn.ledger.v1.DirectoryService/ListCompanies",
        REGISTRY_READERS,
    ),
    (
        "/kcn.ledger.v1.DirectoryService/ListParks",
        REGISTRY_READERS,
    ),
    (
        "/kcn.ledger.v1.DirectoryService/ListTenants",
        REGISTRY_READERS,
    ),
    // The raw log holds every organisation's records: auditors and the province's platform read it,
    // and so does the administrator, who can read the database itself (backups, exports) anyway.
    // The signed tree's checkpoints and proofs reveal hashes only: every principal may check them.
    (
        "/kcn.ledger.v1.AuditService/ReadLog",
        &[Auditor, Integration, Admin],
    ),
    (
        "/kcn.ledger.v1.AuditService/GetEvents",
        &[Auditor, Integration, Admin],
    ),
    // Delivery to the e-government endpoints is the server's operation: its administrator runs
    // it, and auditors may see where it stands (a skipped event is in the log for everyone).
    (
        "/kcn.ledger.v1.DeliveryService/ListDeliveries",
        &[Auditor, Admin],
    ),
    ("/kcn.ledger.v1.DeliveryService/RedriveDelivery", &[Admin]),
    ("/kcn.ledger.v1.DeliveryService/SkipDeliveryEvent", &[Admin]),
    // Following the log live is reading it: the same principals.
    (
        "/kcn.ledger.v1.AuditService/Subscribe",
        &[Auditor, Integration, Admin],
    ),
    (
        "/kcn.ledger.v1.AuditService/GetTimeline",
        &[Board, Auditor, Admin],
    ),
    (
        "/kcn.ledger.v1.AuditService/GetProjectionStatus",
        &[Auditor, Integration, Admin],
    ),
    ("/kcn.ledger.v1.AuditService/GetCheckpoint", EVERYONE),
    ("/kcn.ledger.v1.AuditService/GetVerifierKey", EVERYONE),
    ("/kcn.ledger.v1.AuditService/GetInclusionProof", EVERYONE),
    ("/kcn.ledger.v1.AuditService/GetConsistencyProof", EVERYONE),
    // The auditors' questions. A company officer asks those it can narrow to its own records (a
    // park it runs, its own company, a tenant or an incident of its park: audit_query.rs refuses
    // the rest); the raw history of any aggregate and the Board's processing statistics stay the
    // Board's and the auditors'.
    (
        "/kcn.ledger.v1.AuditQueryService/GetAggregateHistory",
        &[Board, Auditor],
    ),
    (
        "/kcn.ledger.v1.AuditQueryService/GetTenantInspectionRecord",
        READERS,
    ),
    (
        "/kcn.ledger.v1.AuditQueryService/ListRepeatedInspections",
        READERS,
    ),
    (
        "/kcn.ledger.v1.AuditQueryService/GetIncidentTimeline",
        READERS,
    ),
    (
        "/kcn.ledger.v1.AuditQueryService/ListUnfollowedAlerts",
        READERS,
    ),
    (
        "/kcn.ledger.v1.AuditQueryService/ListConsultations",
        READERS,
    ),
    (
        "/kcn.ledger.v1.AuditQueryService/ListLateInformationRequests",
        READERS,
    ),
    (
        "/kcn.ledger.v1.AuditQueryService/GetParkResponsibility",
        READERS,
    ),
    (
        "/kcn.ledger.v1.AuditQueryService/ListLateAnnualReports",
        READERS,
    ),
    (
        "/kcn.ledger.v1.AuditQueryService/GetProcedureProcessingTimes",
        &[Board, Auditor],
    ),
    ("/kcn.ledger.v1.AuditQueryService/ListBreaches", READERS),
    // Principals: issued, changed and revoked by the administrator; who could act, and when, is
    // also the auditors' question.
    ("/kcn.ledger.v1.PrincipalService/IssuePrincipal", &[Admin]),
    (
        "/kcn.ledger.v1.PrincipalService/ChangePrincipalRole",
        &[Admin],
    ),
    ("/kcn.ledger.v1.PrincipalService/RevokePrincipal", &[Admin]),
    (
        "/kcn.ledger.v1.PrincipalService/GetPrincipal",
        &[Admin, Auditor],
    ),
    (
        "/kcn.ledger.v1.PrincipalService/ListPrincipals",
        &[Admin, Auditor],
    ),
    // Who the caller is: every principal may ask.
    ("/kcn.ledger.v1.PrincipalService/GetCaller", EVERYONE),
];

/// Services served without a credential: the health check, which load balancers call.
pub const OPEN_SERVICES: &[&str] = &["/grpc.health.v1.Health/"];

/// Services any authenticated caller may use whatever its role: server reflection.
pub const AUTHENTICATED_SERVICES: &[&str] = &[
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// What the table says of a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Served without a credential.
    Open,
    /// Served to any authenticated caller.
    Authenticated,
    /// Served to these roles.
    Roles(&'static [Role]),
    /// Not in the table: refused to every role.
    Unlisted,
}

/// Looks a method's path up in the table.
pub fn decide(path: &str) -> Decision {
    if OPEN_SERVICES.iter().any(|s| path.starts_with(s)) {
        return Decision::Open;
    }
    if AUTHENTICATED_SERVICES.iter().any(|s| path.starts_with(s)) {
        return Decision::Authenticated;
    }
    match RULES.iter().find(|(method, _)| *method == path) {
        Some((_, roles)) => Decision::Roles(roles),
        None => Decision::Unlisted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_is_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (method, roles) in RULES {
            assert!(seen.insert(*method), "{method} is listed twice");
            assert!(!roles.is_empty(), "{method} is allowed to no role");
        }
    }

    #[test]
    fn the_administrator_records_no_business_act_and_the_auditor_writes_nothing() {
        for (method, roles) in RULES {
            let name = method.rsplit('/').next().unwrap();
            let reads = name.starts_with("Get")
                || name.starts_with("List")
                || name == "ReadLog"
                || name == "Subscribe";
            if roles.contains(&Auditor) {
                assert!(reads, "the auditor may call {method}, which writes");
            }
            let registry = method.starts_with("/kcn.ledger.v1.RegistryService/")
                || method.starts_with("/kcn.ledger.v1.DeliveryService/")
                || method.starts_with("/kcn.ledger.v1.PrincipalService/")
                || method.starts_with("/kcn.ledger.v1.DirectoryService/");
            if roles.contains(&Admin) && !reads {
                assert!(registry, "the administrator may call {method}");
            }
        }
    }
}
