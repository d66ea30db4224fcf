//! Who may call what, through real tokens: the first administrator from a token file, principals
//! issued, refused and revoked through the principal service, every RPC of the contract (read from
//! the service descriptors, so a new one cannot be missed) called anonymously and by every role,
//! and the actor every event records.

use kcn_domain::principal::Role;
use kcn_services::access::{Decision, decide};
use kcn_services::proto;
use kcn_services::proto::principal_service_client::PrincipalServiceClient;
use prost_reflect::DescriptorPool;
use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::{Channel, TestServer, header, with_token};

pub(crate) const ADMIN: &str = "kcn_auth-test-first-administrator-token-000000000";

/// Every method of the contract, with whether the server streams its answer.
pub(crate) fn methods() -> Vec<(String, bool)> {
    let pool = DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut all = Vec::new();
    for service in pool.services() {
        for m in service.methods() {
            all.push((
                format!("/{}/{}", service.full_name(), m.name()),
                m.is_server_streaming(),
            ));
        }
    }
    assert!(all.len() > 90, "the contract's methods: {}", all.len());
    all
}

/// Calls a method with an empty message, answering its status code (OK for an answer).
async fn call(channel: &Channel, path: &str, streaming: bool) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = path.parse().unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let answer = if streaming {
        grpc.server_streaming(tonic::Request::new(()), path, codec)
            .await
            .map(|_| ())
    } else {
        grpc.unary(tonic::Request::new(()), path, codec)
            .await
            .map(|_| ())
    };
    answer.err().unwrap_or_else(|| tonic::Status::ok(""))
}

pub(crate) async fn start() -> TestServer {
    TestServer::with_first_administrator(ADMIN, |_| {}).await
}

pub(crate) async fn issue(
    server: &TestServer,
    role: proto::Role,
    organisation_id: &str,
) -> (String, String) {
    let mut admin = PrincipalServiceClient::new(with_token(&server.raw_channel, Some(ADMIN)));
    let answer = admin
        .issue_principal(proto::IssuePrincipalRequest {
            header: header("2026-01-01T00:00:00Z"),
            name: format!("{role:?} system"),
            role: role as i32,
            organisation_id: organisation_id.to_owned(),
            expires_at: None,
            client_certificate_sha256: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(answer.token.starts_with("kcn_"), "{answer:?}");
    (answer.principal_id, answer.token)
}

#[tokio::test]
async fn anonymous_calls_to_every_rpc_but_health_are_unauthenticated() {
    let server = start().await;
    let anonymous = with_token(&server.raw_channel, None);
    let forged = with_token(
        &server.raw_channel,
        Some("kcn_not-a-token-this-server-issued-at-all"),
    );
    for (path, streaming) in methods() {
        for (who, channel) in [("anonymous", &anonymous), ("forged", &forged)] {
            let status = call(channel, &path, streaming).await;
            assert_eq!(
                status.code(),
                Code::Unauthenticated,
                "{who} {path}: {status:?}"
            );
            assert!(status.get_details_error_info().is_some(), "{path}");
        }
    }
    let mut health = tonic_health::pb::health_client::HealthClient::new(anonymous.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health needs no credential");
}

#[tokio::test]
async fn every_rpc_is_served_to_exactly_the_roles_the_table_allows() {
    let server = start().await;
    // An authority and a company for the officers to act for.
    let province = crate::harness::seed(&server).await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let (proto_role, organisation) = match role {
            Role::BoardOfficer => (proto::Role::BoardOfficer, province.board.clone()),
            Role::CompanyOfficer => (proto::Role::CompanyOfficer, province.company.clone()),
            Role::Auditor => (proto::Role::Auditor, String::new()),
            Role::Integration => (proto::Role::Integration, String::new()),
            Role::Administrator => (proto::Role::Administrator, String::new()),
        };
        let (_, token) = issue(&server, proto_role, &organisation).await;
        tokens.push((role, with_token(&server.raw_channel, Some(&token))));
    }
    let before = server.read_log().await.len();
    for (path, streaming) in methods() {
        let Decision::Roles(allowed) = decide(&path) else {
            panic!("{path} is not in the table of kcn_services::access");
        };
        for (role, channel) in &tokens {
            let status = call(channel, &path, streaming).await;
            if allowed.contains(role) {
                // An empty request names no record: only a scope refusal (tests/api/scope.rs)
                // may answer it PERMISSION_DENIED, never the role table.
                let by_role = status.code() == Code::PermissionDenied
                    && status
                        .get_details_error_info()
                        .is_some_and(|i| i.reason == "ROLE_NOT_ALLOWED");
                assert!(
                    !by_role && status.code() != Code::Unauthenticated,
                    "{role:?} may call {path}: {status:?}"
                );
            } else {
                assert_eq!(status.code(), Code::PermissionDenied, "{role:?} {path}");
                let info = status.get_details_error_info().unwrap();
                assert_eq!(info.reason, "ROLE_NOT_ALLOWED");
                assert_eq!(info.metadata["role"], role.as_str());
                assert_eq!(info.metadata["method"], path);
            }
        }
    }
    // Empty messages are no valid command: nothing was recorded by the whole matrix.
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn principals_are_on_the_record_and_a_revoked_token_stops_at_the_next_call() {
    let server = start().await;
    let province = crate::harness::seed(&server).await;
    let (auditor_id, auditor_token) = issue(&server, proto::Role::Auditor, "").await;
    let (company_id, company_token) =
        issue(&server, proto::Role::CompanyOfficer, &province.company).await;
    let auditor = with_token(&server.raw_channel, Some(&auditor_token));
    let company = with_token(&server.raw_channel, Some(&company_token));

    // A company officer acting for another organisation than its own? It acts for no authority.
    let mut admin = PrincipalServiceClient::new(with_token(&server.raw_channel, Some(ADMIN)));
    let refused = admin
        .issue_principal(proto::IssuePrincipalRequest {
            header: header("2026-01-01T00:00:00Z"),
            name: "wrong".into(),
            role: proto::Role::CompanyOfficer as i32,
            organisation_id: province.board.clone(),
            expires_at: None,
            client_certificate_sha256: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");

    // Who the caller is, as the server knows it, whatever the request says.
    let me = PrincipalServiceClient::new(company.clone())
        .get_caller(proto::GetCallerRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.principal_id, company_id);
    assert_eq!(me.organisation_id, province.company);
    assert_eq!(me.authentication, "bearer_token");

    // The issuing is in the log, by the administrator, without the token or its hash.
    let log = server.read_log().await;
    let issued: Vec<_> = log
        .iter()
        .filter(|e| e.event_type == "PrincipalIssued")
        .collect();
    assert_eq!(
        issued.len(),
        3,
        "the bootstrap administrator, the auditor and the company officer"
    );
    let bootstrap = issued
        .iter()
        .find(|e| String::from_utf8_lossy(&e.payload).contains("\"bootstrap\":true"))
        .unwrap();
    for e in &issued {
        let bytes = [e.payload.clone(), e.metadata.clone()].concat();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&auditor_token) && !text.contains(&company_token));
        assert!(!text.contains(&kcn_services::auth::token_sha256(&company_token)));
    }
    let company_issued = issued
        .iter()
        .find(|e| e.aggregate_id == company_id)
        .unwrap();
    let metadata: serde_json::Value = serde_json::from_slice(&company_issued.metadata).unwrap();
    assert_eq!(metadata["actor"]["principal"], bootstrap.aggregate_id);
    assert_eq!(metadata["actor"]["role"], "administrator");
    assert_eq!(metadata["actor"]["authentication"], "bearer_token");

    // "Who could act for this company on this date?"
    let listed = PrincipalServiceClient::new(auditor.clone())
        .list_principals(proto::ListPrincipalsRequest {
            organisation_id: province.company.clone(),
            active_at: Some(crate::harness::ts("2026-01-01T00:00:01Z")),
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = listed
        .principals
        .iter()
        .map(|p| p.principal_id.clone())
        .collect();
    assert!(ids.contains(&company_id), "{ids:?}");

    // A call of the company's own side works; after the revocation the very next call is refused.
    let mut company_calls = PrincipalServiceClient::new(company.clone());
    company_calls
        .get_caller(proto::GetCallerRequest {})
        .await
        .unwrap();
    server.clock.set(crate::harness::at("2026-01-02T00:00:00Z"));
    admin
        .revoke_principal(proto::RevokePrincipalRequest {
            header: header("2026-01-02T00:00:00Z"),
            principal_id: company_id.clone(),
            reason: "left the company".into(),
        })
        .await
        .unwrap();
    let status = company_calls
        .get_caller(proto::GetCallerRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "CREDENTIALS_REVOKED"
    );
    let _ = auditor_id;
}

#[tokio::test]
async fn a_command_records_its_caller_whatever_the_request_says() {
    let server = start().await;
    let province = crate::harness::seed(&server).await;
    let (company_id, token) = issue(&server, proto::Role::CompanyOfficer, &province.company).await;
    let company = with_token(&server.raw_channel, Some(&token));
    // A body field and a header of the request both claiming another actor change nothing.
    let mut registry = proto::registry_service_client::RegistryServiceClient::new(company);
    let mut request = tonic::Request::new(proto::ReportOccupancyRequest {
        header: Some(proto::CommandHeader {
            source_system: "local-operator".into(),
            ..header("2026-01-01T00:00:00Z").unwrap()
        }),
        park_id: province.park.clone(),
        company_id: province.company.clone(),
        rate_percent: "93.77".into(),
        as_of: "2025-12-31".into(),
    });
    request
        .metadata_mut()
        .insert("x-kcn-principal", "local-operator".parse().unwrap());
    let outcome = registry
        .report_occupancy(request)
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let log = server.read_log().await;
    let event = log
        .iter()
        .find(|e| e.position == outcome.last_position)
        .unwrap();
    let metadata: serde_json::Value = serde_json::from_slice(&event.metadata).unwrap();
    assert_eq!(metadata["actor"]["principal"], company_id);
    assert_eq!(metadata["actor"]["organisation"], province.company);
    assert_eq!(metadata["actor"]["role"], "company_officer");
    assert_eq!(metadata["actor"]["authentication"], "bearer_token");
}
