//! The scope matrix (issue 11): every command of the contract (read from the service descriptors,
//! so a new one cannot be missed) × every role × the caller's own organisation's records versus
//! another's. Each command is sent with ordinary values to a world of its own (an authority, a
//! company running a park, and every aggregate the commands address) and to a second such world:
//! exactly the roles the table allows are served, a Board officer and a company officer only on
//! their own world, and a refusal records nothing.

use kcn_domain::principal::Role;
use kcn_services::access::{Decision, decide};
use kcn_services::proto;
use prost_reflect::DescriptorPool;
use tonic::Code;
use tonic_types::StatusExt;

use crate::auth::{issue, start};
use crate::extremes::{AREAS, Ends, World, prepare, send, world};
use crate::harness::{Channel, TestServer, with_token};

/// The reasons a scope refusal gives (`kcn_domain::scope`).
const SCOPE_RULES: &[&str] = &[
    "COMPANY_DOES_NOT_RUN_PARK",
    "OUTSIDE_JURISDICTION",
    "NOT_A_PARTY",
    "OUTSIDE_ORGANISATION_SCOPE",
];

/// Commands the table allows to both sides that one party of the record performs: the world's
/// exchange is the Board's request to the company, which the company answers and the Board
/// clarifies, closes or withdraws; a notification is its sender's. The other side is refused as
/// `NOT_A_PARTY`.
const PERFORMED_BY: &[(&str, Role)] = &[
    ("RequestInformation", Role::BoardOfficer),
    ("ProvideInformation", Role::CompanyOfficer),
    ("RequestClarification", Role::BoardOfficer),
    ("CloseExchange", Role::BoardOfficer),
    ("WithdrawExchange", Role::BoardOfficer),
    // The ordinary notification is the company's, to the Board.
    ("SendIncidentNotification", Role::CompanyOfficer),
];

/// Every command RPC of the contract: the methods whose request carries a command header.
fn commands() -> Vec<String> {
    let pool = DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut all = Vec::new();
    for service in pool.services() {
        for m in service.methods() {
            if m.input().get_field_by_name("header").is_some() {
                all.push(format!("/{}/{}", service.full_name(), m.name()));
            }
        }
    }
    all
}

/// A principal of every role, the officers acting for the world's authority and company.
async fn callers(server: &TestServer, w: &World) -> Vec<(Role, Channel)> {
    let mut callers = Vec::new();
    for role in Role::ALL {
        let (proto_role, organisation) = match role {
            Role::BoardOfficer => (proto::Role::BoardOfficer, w.board.as_str()),
            Role::CompanyOfficer => (proto::Role::CompanyOfficer, w.company.as_str()),
            Role::Auditor => (proto::Role::Auditor, ""),
            Role::Integration => (proto::Role::Integration, ""),
            Role::Administrator => (proto::Role::Administrator, ""),
        };
        let (_, token) = issue(server, proto_role, organisation).await;
        callers.push((role, with_token(&server.raw_channel, Some(&token))));
    }
    callers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_is_served_to_its_roles_and_officers_only_on_their_own_records() {
    let server = start().await;
    let listed: Vec<&str> = AREAS.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    let mut served_own = 0;
    let mut failures = Vec::new();
    for path in commands() {
        let command = path.rsplit('/').next().unwrap();
        assert!(
            listed.contains(&command),
            "{path} has no ordinary request in tests/api/extremes.rs"
        );
        let Decision::Roles(allowed) = decide(&path) else {
            panic!("{path} is not in the table of kcn_services::access");
        };
        let mut own = world(&server).await;
        prepare(&server, &mut own, command).await;
        let mut other = world(&server).await;
        prepare(&server, &mut other, command).await;
        // The performer last: its act may close the record to every later one.
        let mut callers = callers(&server, &own).await;
        callers.sort_by_key(|(role, _)| PERFORMED_BY.contains(&(command, *role)));
        for (role, channel) in callers {
            for (whose, w) in [("own", &own), ("other", &other)] {
                let before = server.read_log().await.len();
                let answer = send(&channel, w, &Ends::ordinary(), command).await;
                let scoped = matches!(role, Role::BoardOfficer | Role::CompanyOfficer);
                let case = format!("{role:?} {command} on {whose} records");
                let reason = answer
                    .as_ref()
                    .err()
                    .filter(|s| s.code() == Code::PermissionDenied)
                    .and_then(|s| s.get_details_error_info())
                    .map(|i| i.reason);
                let performer = PERFORMED_BY
                    .iter()
                    .find(|(c, _)| *c == command)
                    .map(|(_, r)| *r);
                let not_a_party = scoped && performer.is_some_and(|p| p != role);
                match (allowed.contains(&role), scoped && whose == "other") {
                    (true, false) if not_a_party => {
                        if reason.as_deref() != Some("NOT_A_PARTY") {
                            failures.push(format!("{case}: not refused as no party: {answer:?}"));
                        }
                    }
                    (false, _) => {
                        if reason.as_deref() != Some("ROLE_NOT_ALLOWED") {
                            failures.push(format!("{case}: not refused by role: {answer:?}"));
                        }
                    }
                    (true, true) => {
                        if !reason.as_deref().is_some_and(|r| SCOPE_RULES.contains(&r)) {
                            failures.push(format!("{case}: not refused by scope: {answer:?}"));
                        }
                    }
                    (true, false) => match &answer {
                        Ok(()) => {
                            if whose == "own" {
                                served_own += 1;
                            }
                        }
                        Err(s)
                            if matches!(
                                s.code(),
                                Code::PermissionDenied | Code::Unauthenticated
                            ) =>
                        {
                            failures.push(format!("{case}: refused: {s:?}"));
                        }
                        Err(_) => {}
                    },
                }
                if answer.is_err() && server.read_log().await.len() != before {
                    failures.push(format!("{case}: refused, yet the log grew"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("scope matrix: {served_own} calls served on their own records");
    assert!(
        served_own > 40,
        "only {served_own} calls were served at all"
    );
}

/// Reports the park's occupancy as a company officer, dated `occurred_at`.
async fn report_occupancy(
    channel: &Channel,
    park: &str,
    company: &str,
    occurred_at: &str,
) -> Result<(), tonic::Status> {
    proto::registry_service_client::RegistryServiceClient::new(channel.clone())
        .report_occupancy(proto::ReportOccupancyRequest {
            header: crate::harness::header(occurred_at),
            park_id: park.to_owned(),
            company_id: company.to_owned(),
            rate_percent: "80".into(),
            as_of: "2025-06-30".into(),
        })
        .await
        .map(drop)
}

fn scope_rule(answer: Result<(), tonic::Status>) -> String {
    let status = answer.expect_err("refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    status.get_details_error_info().unwrap().reason
}

#[tokio::test]
async fn back_dating_opens_nothing_and_a_successor_acts_on_its_predecessors_parks() {
    let server = start().await;
    let p = crate::harness::seed(&server).await;
    let mut registry = server.registry();
    // The park changes hands on 2025-07-01.
    let newcomer = crate::harness::hand_over_park(&server, &p.park, "2025-07-01").await;
    let (_, former_token) = issue(&server, proto::Role::CompanyOfficer, &p.company).await;
    let (_, newcomer_token) = issue(&server, proto::Role::CompanyOfficer, &newcomer).await;
    let former = with_token(&server.raw_channel, Some(&former_token));
    let newcomer_channel = with_token(&server.raw_channel, Some(&newcomer_token));
    let before = server.read_log().await.len();

    // The former company, dating its act to when it ran the park: it does not run it today.
    let refused = report_occupancy(&former, &p.park, &p.company, "2025-06-30T03:00:00Z").await;
    assert_eq!(scope_rule(refused), "COMPANY_DOES_NOT_RUN_PARK");
    // The newcomer, dating its act to before it ran the park.
    let refused = report_occupancy(
        &newcomer_channel,
        &p.park,
        &newcomer,
        "2025-06-30T03:00:00Z",
    )
    .await;
    assert_eq!(scope_rule(refused), "COMPANY_DOES_NOT_RUN_PARK");
    assert_eq!(
        server.read_log().await.len(),
        before,
        "refusals record nothing"
    );
    // The newcomer on its own time.
    report_occupancy(
        &newcomer_channel,
        &p.park,
        &newcomer,
        "2025-07-02T03:00:00Z",
    )
    .await
    .unwrap();

    // The Board is merged into a successor; the park's jurisdiction is not yet reassigned in the
    // ledger. The successor's officer acts on it; the merged Board's officer acts no more, and a
    // stranger's never did.
    let successor = registry
        .establish_authority(proto::EstablishAuthorityRequest {
            header: crate::harness::header("2025-04-06T02:00:00Z"),
            name: "Ban quản lý hợp nhất".into(),
            kind: proto::AuthorityKind::IndustrialParksBoard as i32,
            jurisdiction: "Bình Dương".into(),
            decision_no: "QĐ-9/2025".into(),
            effective_from: "2025-08-01".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    registry
        .record_authority_succession(proto::RecordAuthoritySuccessionRequest {
            header: crate::harness::header("2025-04-06T02:10:00Z"),
            authority_id: p.board.clone(),
            predecessors: vec![p.board.clone()],
            successor: successor.clone(),
            effective_date: "2025-08-01".into(),
            legal_basis: "Quyết định hợp nhất".into(),
        })
        .await
        .unwrap();
    let stranger = crate::harness::seed_another(&server, 900).await.board;
    let rules = |channel: Channel, occurred_at: &'static str| {
        let park = p.park.clone();
        async move {
            proto::registry_service_client::RegistryServiceClient::new(channel)
                .set_park_industry_rules(proto::SetParkIndustryRulesRequest {
                    header: crate::harness::header(occurred_at),
                    park_id: park,
                    allowed_vsic_codes: vec![proto::VsicCode {
                        code: "1610".into(),
                        version: "2018".into(),
                    }],
                    excluded_vsic_codes: vec![],
                    highest_pollution_level: proto::PollutionLevel::Ii as i32,
                    effective_from: occurred_at[..10].to_owned(),
                    legal_basis: "Quy hoạch".into(),
                })
                .await
                .map(drop)
        }
    };
    let (_, token) = issue(&server, proto::Role::BoardOfficer, &stranger).await;
    let refused = rules(
        with_token(&server.raw_channel, Some(&token)),
        "2025-09-01T03:00:00Z",
    )
    .await;
    assert_eq!(scope_rule(refused), "OUTSIDE_JURISDICTION");
    let (_, token) = issue(&server, proto::Role::BoardOfficer, &p.board).await;
    let refused = rules(
        with_token(&server.raw_channel, Some(&token)),
        "2025-07-15T03:00:00Z",
    )
    .await;
    assert_eq!(scope_rule(refused), "AUTHORITY_SUCCEEDED");
    let (_, token) = issue(&server, proto::Role::BoardOfficer, &successor).await;
    rules(
        with_token(&server.raw_channel, Some(&token)),
        "2025-09-01T03:00:00Z",
    )
    .await
    .expect("the successor takes over its predecessor's parks");
    // The successor's act names it as the acting authority, though the park's jurisdiction is
    // still recorded as its predecessor's.
    let log = server.read_log().await;
    let last: serde_json::Value = serde_json::from_slice(&log.last().unwrap().metadata).unwrap();
    assert_eq!(last["actor"]["organisation"], successor);
    assert_eq!(last["acting_authority_id"], successor);
}

/// One `Get…` call of a world's record, as `channel`.
async fn get(channel: &Channel, what: &str, w: &World) -> Result<(), tonic::Status> {
    use proto::*;
    let c = channel.clone();
    match what {
        "GetTenant" => registry_service_client::RegistryServiceClient::new(c)
            .get_tenant(GetTenantRequest {
                tenant_id: w.tenant.clone(),
            })
            .await
            .map(drop),
        "GetPark" => registry_service_client::RegistryServiceClient::new(c)
            .get_park(GetParkRequest {
                park_id: w.park.clone(),
            })
            .await
            .map(drop),
        "GetAuthority" => registry_service_client::RegistryServiceClient::new(c)
            .get_authority(GetAuthorityRequest {
                authority_id: w.board.clone(),
            })
            .await
            .map(drop),
        "GetAgreement" => agreement_service_client::AgreementServiceClient::new(c)
            .get_agreement(GetAgreementRequest {
                agreement_id: w.agreement.clone(),
            })
            .await
            .map(drop),
        "GetAnnualPlan" => annual_plan_service_client::AnnualPlanServiceClient::new(c)
            .get_annual_plan(GetAnnualPlanRequest {
                plan_id: w.plan.clone(),
            })
            .await
            .map(drop),
        "GetExchange" => {
            information_exchange_service_client::InformationExchangeServiceClient::new(c)
                .get_exchange(GetExchangeRequest {
                    exchange_id: w.exchange.clone(),
                })
                .await
                .map(drop)
        }
        "GetConsultation" => {
            industry_consultation_service_client::IndustryConsultationServiceClient::new(c)
                .get_consultation(GetConsultationRequest {
                    consultation_id: w.consultation.clone(),
                })
                .await
                .map(drop)
        }
        "GetInspection" => inspection_service_client::InspectionServiceClient::new(c)
            .get_inspection(GetInspectionRequest {
                inspection_id: w.inspection.clone(),
            })
            .await
            .map(drop),
        "GetIncident" => incident_service_client::IncidentServiceClient::new(c)
            .get_incident(GetIncidentRequest {
                incident_id: w.incident.clone(),
            })
            .await
            .map(drop),
        "GetAlert" => monitoring_service_client::MonitoringServiceClient::new(c)
            .get_alert(GetAlertRequest {
                alert_id: w.alert.clone(),
            })
            .await
            .map(drop),
        "GetDossier" => procedure_service_client::ProcedureServiceClient::new(c)
            .get_dossier(GetDossierRequest {
                dossier_id: w.dossier.clone(),
            })
            .await
            .map(drop),
        "ListTenants" => directory_service_client::DirectoryServiceClient::new(c)
            .list_tenants(ListTenantsRequest {
                park_id: w.park.clone(),
                ..Default::default()
            })
            .await
            .map(drop),
        other => panic!("no request for {other}"),
    }
}

#[tokio::test]
async fn a_company_officer_reads_its_own_records_and_the_public_registry_only() {
    let server = start().await;
    let own = world(&server).await;
    let other = world(&server).await;
    let (_, token) = issue(&server, proto::Role::CompanyOfficer, &own.company).await;
    let company = with_token(&server.raw_channel, Some(&token));
    let (_, token) = issue(&server, proto::Role::BoardOfficer, &own.board).await;
    let board = with_token(&server.raw_channel, Some(&token));
    crate::harness::read_models_at_head(&server).await;
    // The registry of who is who is public.
    for what in ["GetPark", "GetAuthority"] {
        for w in [&own, &other] {
            get(&company, what, w).await.unwrap();
        }
    }
    for what in [
        "GetTenant",
        "GetAgreement",
        "GetAnnualPlan",
        "GetExchange",
        "GetConsultation",
        "GetInspection",
        "GetIncident",
        "GetAlert",
        "GetDossier",
        "ListTenants",
    ] {
        get(&company, what, &own)
            .await
            .unwrap_or_else(|s| panic!("{what} of its own records: {s:?}"));
        let refused = get(&company, what, &other).await;
        assert_eq!(scope_rule(refused), "OUTSIDE_ORGANISATION_SCOPE", "{what}");
        // A Board officer reads every record.
        get(&board, what, &other).await.unwrap();
    }
    // Without a park, a company officer's list of tenants would be every company's.
    let refused = proto::directory_service_client::DirectoryServiceClient::new(company.clone())
        .list_tenants(proto::ListTenantsRequest::default())
        .await
        .map(drop);
    assert_eq!(scope_rule(refused), "OUTSIDE_ORGANISATION_SCOPE");
}

#[tokio::test]
async fn a_notification_names_its_sender_as_the_caller_and_an_established_authority_as_recipient() {
    let server = start().await;
    let p = crate::harness::seed(&server).await;
    let incident = crate::incident::report_overflow(&server, &p).await;
    let (_, token) = issue(&server, proto::Role::CompanyOfficer, &p.company).await;
    let company = with_token(&server.raw_channel, Some(&token));
    let mut incidents = proto::incident_service_client::IncidentServiceClient::new(company);
    let before = server.read_log().await.len();
    // Claiming the Board as the sender is refused: the sender is the caller's own organisation.
    let mut as_board = crate::incident::notify(&incident, "2025-06-11T01:30:00Z", &p);
    as_board.sender = Some(proto::OrganisationRef {
        kind: proto::OrganisationKind::Authority as i32,
        id: p.board.clone(),
    });
    let refused = incidents
        .send_incident_notification(as_board)
        .await
        .map(drop);
    assert_eq!(scope_rule(refused), "NOT_A_PARTY");
    assert_eq!(server.read_log().await.len(), before);
    // As itself, to the Board.
    incidents
        .send_incident_notification(crate::incident::notify(
            &incident,
            "2025-06-11T01:30:00Z",
            &p,
        ))
        .await
        .unwrap();
    let got = incidents
        .get_incident(proto::GetIncidentRequest {
            incident_id: incident.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let n = &got.notifications[0];
    assert_eq!(n.sender.as_ref().unwrap().id, p.company);
    assert_eq!(n.recipient_authority_id.as_deref(), Some(p.board.as_str()));
}

/// One of the auditors' questions, narrowed to the world `w` (its park, company, tenant or
/// incident), or not narrowed at all.
async fn ask(
    channel: &Channel,
    question: &str,
    w: &World,
    narrowed: bool,
) -> Result<(), tonic::Status> {
    use proto::audit_query_service_client::AuditQueryServiceClient as Q;
    use proto::*;
    let mut q = Q::new(channel.clone());
    let pick = |id: &String| if narrowed { id.clone() } else { String::new() };
    match question {
        "GetTenantInspectionRecord" => q
            .get_tenant_inspection_record(GetTenantInspectionRecordRequest {
                tenant_id: pick(&w.tenant),
                ..Default::default()
            })
            .await
            .map(drop),
        "ListRepeatedInspections" => q
            .list_repeated_inspections(ListRepeatedInspectionsRequest {
                from_year: 2025,
                to_year: 2025,
                park_id: pick(&w.park),
                ..Default::default()
            })
            .await
            .map(drop),
        "GetIncidentTimeline" => q
            .get_incident_timeline(GetIncidentTimelineRequest {
                incident_id: pick(&w.incident),
                ..Default::default()
            })
            .await
            .map(drop),
        "ListUnfollowedAlerts" => q
            .list_unfollowed_alerts(ListUnfollowedAlertsRequest {
                park_id: pick(&w.park),
                within_days: Some(30),
                ..Default::default()
            })
            .await
            .map(drop),
        "ListConsultations" => q
            .list_consultations(ListConsultationsRequest {
                park_id: pick(&w.park),
                ..Default::default()
            })
            .await
            .map(drop),
        "ListLateInformationRequests" => q
            .list_late_information_requests(ListLateInformationRequestsRequest {
                company_id: pick(&w.company),
                year: 2025,
                ..Default::default()
            })
            .await
            .map(drop),
        "GetParkResponsibility" => q
            .get_park_responsibility(GetParkResponsibilityRequest {
                park_id: pick(&w.park),
                date: "2025-06-01".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "ListLateAnnualReports" => q
            .list_late_annual_reports(ListLateAnnualReportsRequest {
                year: 2025,
                park_id: pick(&w.park),
                ..Default::default()
            })
            .await
            .map(drop),
        "ListBreaches" => {
            let answer = q
                .list_breaches(ListBreachesRequest {
                    park_id: pick(&w.park),
                    from_date: "2025-01-01".into(),
                    to_date: "2026-12-31".into(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            if narrowed {
                assert!(answer.breaches.iter().all(|b| b.park_id == w.park));
            }
            Ok(())
        }
        other => panic!("no question {other}"),
    }
}

#[tokio::test]
async fn a_company_officer_asks_the_auditors_questions_of_its_own_records_only() {
    let server = start().await;
    let own = world(&server).await;
    let other = world(&server).await;
    let (_, token) = issue(&server, proto::Role::CompanyOfficer, &own.company).await;
    let company = with_token(&server.raw_channel, Some(&token));
    let (_, token) = issue(&server, proto::Role::BoardOfficer, &own.board).await;
    let board = with_token(&server.raw_channel, Some(&token));
    crate::harness::read_models_at_head(&server).await;
    for question in [
        "GetTenantInspectionRecord",
        "ListRepeatedInspections",
        "GetIncidentTimeline",
        "ListUnfollowedAlerts",
        "ListConsultations",
        "ListLateInformationRequests",
        "GetParkResponsibility",
        "ListLateAnnualReports",
        "ListBreaches",
    ] {
        ask(&company, question, &own, true)
            .await
            .unwrap_or_else(|s| panic!("{question} of its own records: {s:?}"));
        for (w, narrowed) in [(&other, true), (&own, false)] {
            let refused = ask(&company, question, w, narrowed).await;
            assert_eq!(
                scope_rule(refused),
                "OUTSIDE_ORGANISATION_SCOPE",
                "{question} narrowed {narrowed}"
            );
        }
        ask(&board, question, &other, true)
            .await
            .unwrap_or_else(|s| panic!("the Board asks {question}: {s:?}"));
    }
}

/// Every read a company officer may call (from the descriptors and the role table) is either
/// narrowed to its records, and checked above against another company's, or public by decision.
#[test]
fn every_read_served_to_company_officers_is_narrowed_or_public_by_decision() {
    const NARROWED: &[&str] = &[
        "GetTenant",
        "GetAgreement",
        "GetAnnualPlan",
        "GetExchange",
        "GetConsultation",
        "GetInspection",
        "GetIncident",
        "GetAlert",
        "GetDossier",
        "ListTenants",
        "GetTenantInspectionRecord",
        "ListRepeatedInspections",
        "GetIncidentTimeline",
        "ListUnfollowedAlerts",
        "ListConsultations",
        "ListLateInformationRequests",
        "GetParkResponsibility",
        "ListLateAnnualReports",
        "ListBreaches",
    ];
    // The registry of who is who, the Board's guidance, the caller itself, and the log's proofs
    // (hashes only).
    const PUBLIC: &[&str] = &[
        "GetAuthority",
        "GetCompany",
        "GetPark",
        "GetDissemination",
        "ListAuthorities",
        "ListCompanies",
        "ListParks",
        "GetCaller",
        "GetCheckpoint",
        "GetVerifierKey",
        "GetInclusionProof",
        "GetConsistencyProof",
    ];
    let pool = DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).unwrap();
    for service in pool.services() {
        for m in service.methods() {
            let path = format!("/{}/{}", service.full_name(), m.name());
            let reads = m.input().get_field_by_name("header").is_none();
            let served =
                matches!(decide(&path), Decision::Roles(r) if r.contains(&Role::CompanyOfficer));
            if reads && served {
                assert!(
                    NARROWED.contains(&m.name()) || PUBLIC.contains(&m.name()),
                    "{path} is served to company officers but neither narrowed nor public"
                );
            }
        }
    }
}
