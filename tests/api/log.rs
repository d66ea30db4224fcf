//! The log's guarantees through the real server: replay returns exactly what was appended, retries
//! are idempotent, stale versions are refused, the timeline answers, and health and reflection serve.
//! The scenarios listed in `on_both_backends!` run on SQLite and on a fresh PostgreSQL database.

use std::time::Duration;

use kcn_services::proto;
use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::{
    TestServer, header, header_with_id, on_both_backends, seed, ts, violated_fields, wait_until,
};

fn company(request_id: &str, name: &str) -> proto::RegisterCompanyRequest {
    proto::RegisterCompanyRequest {
        header: header_with_id("2025-04-01T02:10:00.123456789Z", request_id),
        enterprise_code: crate::harness::enterprise_code(request_id),
        name: name.into(),
        address: String::new(),
    }
}

async fn replaying_the_log_returns_exactly_what_was_appended_even_after_a_restart(
    server: TestServer,
) {
    let p = seed(&server).await;
    let log = server.read_log().await;
    let positions: Vec<u64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=6).collect::<Vec<_>>());
    let types: Vec<&str> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "AuthorityEstablished",
            "CompanyRegistered",
            "ParkRegistered",
            "JurisdictionAssigned",
            "InfrastructureCompanyAssigned",
            "TenantRegistered"
        ]
    );
    let park = &log[2];
    assert_eq!(park.aggregate_id, p.park);
    assert_eq!(park.aggregate_version, 1);
    assert_eq!(park.schema_version, 1);
    assert_eq!(park.occurred_at, "2025-04-01T02:20:00.000000Z");
    assert_eq!(
        String::from_utf8(park.payload.clone()).unwrap(),
        r#"{"code":"DONGAN-1","name":"KCN Đồng An","area_ha":"138.7","location":"Thuận An, Bình Dương"}"#
    );
    let tenant: serde_json::Value = serde_json::from_slice(&log[5].payload).unwrap();
    assert_eq!(tenant["vsic_codes"][0]["version"], "2018");

    // The registry reads the province back.
    let park = server
        .registry()
        .get_park(proto::GetParkRequest {
            park_id: p.park.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(park.version, 3);
    assert_eq!(park.registration.unwrap().area_ha, "138.7");
    assert_eq!(park.jurisdictions[0].id, p.board);
    assert_eq!(park.infrastructure_companies[0].id, p.company);
    let tenant = server
        .registry()
        .get_tenant(proto::GetTenantRequest {
            tenant_id: p.tenant.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tenant.registration.unwrap().park_id, p.park);

    let again = server.restart().await;
    assert_eq!(again.read_log().await, log, "byte for byte after a restart");
}

#[tokio::test]
async fn finer_than_microsecond_business_time_is_truncated_not_rounded() {
    let server = TestServer::start().await;
    server
        .registry()
        .register_company(company("r-1", "Becamex IDC"))
        .await
        .unwrap();
    let log = server.read_log().await;
    assert_eq!(log[0].occurred_at, "2025-04-01T02:10:00.123456Z");
    assert_eq!(
        log[0].recorded_at, "2026-01-01T00:00:00.000000Z",
        "server time comes from the clock"
    );
}

/// `GetEvents` answers scattered positions with exactly what `ReadLog` streams, in position order
/// and once each; refuses what it cannot answer, naming the field; and splits an answer larger than
/// its byte budget, naming the positions left for the next call.
async fn get_events_answers_scattered_positions_as_stored_within_a_byte_budget(server: TestServer) {
    let p = seed(&server).await;
    let mut x = server.exchanges();
    // Fifteen requests of about 80 KB each (20,000 four-byte characters): more than the 1 MiB an
    // answer holds.
    for i in 0..15 {
        let mut request =
            crate::information_exchange::board_to_company(&p.board, &p.company, &p.park);
        request.body = format!("{i}{}", "\u{1D54F}".repeat(19_990));
        x.request_information(request).await.unwrap();
    }
    let log = server.read_log().await;
    let head = log.len() as u64;
    let mut audit = server.audit();
    let answer = audit
        .get_events(proto::GetEventsRequest {
            positions: vec![5, 2, 5, 3],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.events,
        vec![log[1].clone(), log[2].clone(), log[4].clone()]
    );
    assert!(answer.remaining_positions.is_empty());

    let large: Vec<u64> = (7..=head).collect();
    let first = audit
        .get_events(proto::GetEventsRequest {
            positions: large.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let bytes: usize = first
        .events
        .iter()
        .map(|e| e.payload.len() + e.metadata.len())
        .sum();
    assert!(bytes <= 1024 * 1024, "{bytes}");
    assert!(
        !first.remaining_positions.is_empty(),
        "the budget split the answer"
    );
    let second = audit
        .get_events(proto::GetEventsRequest {
            positions: first.remaining_positions.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(second.remaining_positions.is_empty());
    let all: Vec<proto::LogEvent> = first.events.into_iter().chain(second.events).collect();
    assert_eq!(
        all,
        log[6..].to_vec(),
        "both answers together are the range, as stored"
    );

    for (positions, why) in [
        (vec![], "no position"),
        (vec![0], "position 0"),
        (vec![head + 1], "beyond the head"),
        (vec![1; 101], "more than 100"),
    ] {
        let status = audit
            .get_events(proto::GetEventsRequest { positions })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{why}: {status:?}");
        assert_eq!(violated_fields(&status), ["positions"], "{why}");
    }
}

async fn a_retried_request_returns_the_first_outcome_and_is_not_appended_twice(server: TestServer) {
    let mut reg = server.registry();
    let first = reg
        .register_company(company("retry-1", "Becamex IDC"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let second = reg
        .register_company(company("retry-1", "Becamex IDC"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert!(!first.replayed);
    assert!(second.replayed);
    assert_eq!(second.aggregate_id, first.aggregate_id);
    assert_eq!(second.event_ids, first.event_ids);
    assert_eq!(second.first_position, first.first_position);
    assert_eq!(server.read_log().await.len(), 1);

    // The idempotency record is durable: a restarted server still knows the request.
    let again = server.restart().await;
    let third = again
        .registry()
        .register_company(company("retry-1", "Becamex IDC"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert!(third.replayed);
    assert_eq!(third.aggregate_id, first.aggregate_id);
    assert_eq!(again.read_log().await.len(), 1);
}

async fn a_request_id_reused_for_a_different_command_is_already_exists(server: TestServer) {
    let mut reg = server.registry();
    reg.register_company(company("reuse-1", "Becamex IDC"))
        .await
        .unwrap();
    let status = reg
        .register_company(company("reuse-1", "Another company"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "REQUEST_ID_REUSED"
    );
    assert_eq!(server.read_log().await.len(), 1);
}

#[tokio::test]
async fn a_rejected_command_can_be_retried_with_the_same_request_id() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut reg = server.registry();
    let submit = |occurred_at: &str| proto::SubmitAnnualEnvironmentalReportRequest {
        header: header_with_id(occurred_at, "report-2025"),
        tenant_id: p.tenant.clone(),
        year: 2025,
        submitted_on: String::new(),
    };
    server.clock.set(crate::harness::at("2026-02-01T00:00:00Z"));
    // Refused: the 2025 period is not over on 2025-12-31.
    let status = reg
        .submit_annual_environmental_report(submit("2025-12-31T01:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    // The refusal stored nothing, so the same request id may carry the corrected command.
    reg.submit_annual_environmental_report(submit("2026-01-10T01:00:00Z"))
        .await
        .unwrap();
}

async fn a_stale_expected_version_is_aborted_and_appends_nothing(server: TestServer) {
    let p = seed(&server).await;
    let change = |expected: u64| {
        let mut h = header("2025-06-01T00:00:00Z");
        h.as_mut().unwrap().expected_version = Some(expected);
        proto::ChangeCompanyDetailsRequest {
            header: h,
            company_id: p.company.clone(),
            name: Some(format!("Hưng Thịnh v{expected}")),
            address: None,
        }
    };
    let mut reg = server.registry();
    reg.change_company_details(change(1)).await.unwrap();
    let before = server.read_log().await.len();
    let status = reg.change_company_details(change(1)).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "VERSION_CONFLICT");
    assert_eq!(info.metadata["actual_version"], "2");
    assert_eq!(server.read_log().await.len(), before);
}

async fn concurrent_commands_get_gap_free_positions_and_are_projected_once(server: TestServer) {
    let mut tasks = Vec::new();
    for i in 0..100 {
        let mut reg = server.registry();
        tasks.push(tokio::spawn(async move {
            reg.register_company(company(&format!("c-{i}"), &format!("Company {i}")))
                .await
                .unwrap()
                .into_inner()
                .outcome
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().aggregate_id);
    }
    let positions: Vec<u64> = server.read_log().await.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=100).collect::<Vec<_>>());
    // Every company's registration is on its timeline exactly once.
    let mut audit = server.audit();
    for id in ids {
        let page = audit
            .get_timeline(proto::GetTimelineRequest {
                subject_type: proto::SubjectType::Company as i32,
                subject_id: id,
                min_position: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.entries.len(), 1);
    }
}

async fn the_park_timeline_holds_everything_that_concerns_the_park_in_order(server: TestServer) {
    let p = seed(&server).await;
    let mut x = server.exchanges();
    let opened = x
        .request_information(proto::RequestInformationRequest {
            header: header("2025-05-01T02:00:00Z"),
            from: Some(proto::OrganisationRef {
                kind: proto::OrganisationKind::Authority as i32,
                id: p.board.clone(),
            }),
            to: Some(proto::OrganisationRef {
                kind: proto::OrganisationKind::InfrastructureCompany as i32,
                id: p.company.clone(),
            }),
            park_id: p.park.clone(),
            subject: "Occupancy".into(),
            body: "Report occupancy as of 30 April.".into(),
            due_at: None,
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let answered = x
        .provide_information(proto::ProvideInformationRequest {
            header: header("2025-05-03T02:00:00Z"),
            exchange_id: opened.aggregate_id.clone(),
            body: "93.77%".into(),
            attachments: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();

    let timeline = |page_token: String, page_size: u32| proto::GetTimelineRequest {
        subject_type: proto::SubjectType::Park as i32,
        subject_id: p.park.clone(),
        page_size,
        page_token,
        min_position: answered.last_position,
        ..Default::default()
    };
    let mut audit = server.audit();
    let all = audit
        .get_timeline(timeline(String::new(), 0))
        .await
        .unwrap()
        .into_inner();
    let types: Vec<&str> = all.entries.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "ParkRegistered",
            "JurisdictionAssigned",
            "InfrastructureCompanyAssigned",
            "TenantRegistered",
            "InformationRequested",
            "InformationProvided"
        ],
        "the answer lands on the park's timeline through its request"
    );
    assert!(all.next_page_token.is_empty());

    // Pages of two walk the same entries.
    let mut token = String::new();
    let mut paged = Vec::new();
    loop {
        let page = audit
            .get_timeline(timeline(token, 2))
            .await
            .unwrap()
            .into_inner();
        assert!(page.entries.len() <= 2);
        paged.extend(page.entries.into_iter().map(|e| e.position));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        paged,
        all.entries.iter().map(|e| e.position).collect::<Vec<_>>()
    );

    // Filtered by kind and by business time.
    let filtered = audit
        .get_timeline(proto::GetTimelineRequest {
            event_types: vec!["InformationRequested".into(), "InformationProvided".into()],
            from_time: Some(ts("2025-05-02T00:00:00Z")),
            to_time: Some(ts("2025-06-01T00:00:00Z")),
            ..timeline(String::new(), 10)
        })
        .await
        .unwrap()
        .into_inner();
    let types: Vec<&str> = filtered
        .entries
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(types, ["InformationProvided"]);

    // The company's timeline holds its own events and the exchange it is party to.
    let company = audit
        .get_timeline(proto::GetTimelineRequest {
            subject_type: proto::SubjectType::Company as i32,
            subject_id: p.company.clone(),
            ..timeline(String::new(), 10)
        })
        .await
        .unwrap()
        .into_inner();
    let types: Vec<&str> = company
        .entries
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "CompanyRegistered",
            "InfrastructureCompanyAssigned",
            "InformationRequested",
            "InformationProvided"
        ]
    );
}

#[tokio::test]
async fn a_page_token_from_another_query_is_refused() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut audit = server.audit();
    let first = audit
        .get_timeline(proto::GetTimelineRequest {
            subject_type: proto::SubjectType::Park as i32,
            subject_id: p.park.clone(),
            page_size: 1,
            min_position: p.last_position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let status = audit
        .get_timeline(proto::GetTimelineRequest {
            subject_type: proto::SubjectType::Tenant as i32,
            subject_id: p.tenant.clone(),
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["page_token"]);
    let status = audit
        .get_timeline(proto::GetTimelineRequest {
            subject_type: proto::SubjectType::Park as i32,
            subject_id: p.park,
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["page_token"]);
}

async fn read_your_writes_waits_for_the_projection_and_status_reports_no_lag(server: TestServer) {
    let p = seed(&server).await;
    let mut audit = server.audit();
    let page = audit
        .get_timeline(proto::GetTimelineRequest {
            subject_type: proto::SubjectType::Tenant as i32,
            subject_id: p.tenant.clone(),
            min_position: p.last_position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        page.entries.len(),
        1,
        "the tenant's registration is visible at once"
    );
    let status = audit
        .get_projection_status(proto::GetProjectionStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let timeline = &status.projections[0];
    assert_eq!(timeline.name, "timeline");
    assert_eq!(timeline.position, p.last_position);
    assert_eq!(timeline.lag, 0);
    assert!(timeline.error.is_empty());

    // A position the log has not reached is refused at once: waiting could not help.
    let status = tokio::time::timeout(
        Duration::from_secs(10),
        audit.get_timeline(proto::GetTimelineRequest {
            subject_type: proto::SubjectType::Tenant as i32,
            subject_id: p.tenant,
            min_position: 1_000,
            ..Default::default()
        }),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(crate::harness::violated_fields(&status), ["min_position"]);
}

/// An authority is a subject: its own events and every event naming it, each with its actor.
async fn an_authority_timeline_holds_what_names_it_with_each_actor(server: TestServer) {
    let p = seed(&server).await;
    let agreement = crate::agreement::agreements(&server)
        .sign_agreement(crate::agreement::signing(&p, "2025-04-11T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let requested = server
        .exchanges()
        .request_information(crate::information_exchange::board_to_company(
            &p.board, &p.company, &p.park,
        ))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let all = server
        .audit()
        .get_timeline(proto::GetTimelineRequest {
            subject_type: proto::SubjectType::Authority as i32,
            subject_id: p.board.clone(),
            min_position: requested.last_position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let types: Vec<&str> = all.entries.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "AuthorityEstablished",
            "JurisdictionAssigned",
            "AgreementSigned",
            "InformationRequested"
        ]
    );
    assert_eq!(all.entries[2].aggregate_id, agreement.aggregate_id);
    for e in &all.entries {
        let actor = e.actor.as_ref().expect("every entry carries its actor");
        assert_eq!(
            (actor.principal.as_str(), actor.authentication.as_str()),
            ("embedded", "embedded"),
            "{e:?}"
        );
    }
    // The information request acts for the Board, the park's authority.
    assert_eq!(all.entries[3].acting_authority_id, p.board);
}

/// An act that names a company and no park is on the timeline of each park the company ran on the
/// act's date: the park changes hands on 1 July, and the Board's requests to each company, made
/// without naming the park, land on the park's timeline only for the days the company ran it.
async fn a_request_to_a_company_is_on_the_timelines_of_the_parks_it_ran_that_day(
    server: TestServer,
) {
    let p = seed(&server).await;
    let newcomer = crate::harness::hand_over_park(&server, &p.park, "2025-07-01").await;
    let mut x = server.exchanges();
    let request = |company: &str, when: &str| {
        let mut r = crate::information_exchange::board_to_company(&p.board, company, "");
        r.header = header(when);
        r.due_at = None;
        r
    };
    let mut ids = Vec::new();
    for (company, when) in [
        (&p.company, "2025-06-10T02:00:00Z"),
        (&newcomer, "2025-06-20T02:00:00Z"),
        (&p.company, "2025-07-10T02:00:00Z"),
        (&newcomer, "2025-07-20T02:00:00Z"),
    ] {
        let outcome = x
            .request_information(request(company, when))
            .await
            .unwrap()
            .into_inner()
            .outcome
            .unwrap();
        ids.push((outcome.aggregate_id, outcome.last_position));
    }
    let last = ids.last().unwrap().1;
    let page = server
        .audit()
        .get_timeline(proto::GetTimelineRequest {
            subject_type: proto::SubjectType::Park as i32,
            subject_id: p.park.clone(),
            event_types: vec!["InformationRequested".into()],
            min_position: last,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let on_park: Vec<&str> = page
        .entries
        .iter()
        .map(|e| e.aggregate_id.as_str())
        .collect();
    // The former company's request in June and the newcomer's in July; not the other two.
    assert_eq!(on_park, [ids[0].0.as_str(), ids[3].0.as_str()]);
}

on_both_backends!(
    get_events_answers_scattered_positions_as_stored_within_a_byte_budget,
    a_request_to_a_company_is_on_the_timelines_of_the_parks_it_ran_that_day,
    an_authority_timeline_holds_what_names_it_with_each_actor,
    replaying_the_log_returns_exactly_what_was_appended_even_after_a_restart,
    a_retried_request_returns_the_first_outcome_and_is_not_appended_twice,
    a_request_id_reused_for_a_different_command_is_already_exists,
    a_stale_expected_version_is_aborted_and_appends_nothing,
    concurrent_commands_get_gap_free_positions_and_are_projected_once,
    the_park_timeline_holds_everything_that_concerns_the_park_in_order,
    read_your_writes_waits_for_the_projection_and_status_reports_no_lag,
);

#[tokio::test]
async fn health_is_serving_and_reflection_lists_the_services() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = TestServer::start().await;
    let health = HealthClient::new(server.channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);
    let health = HealthClient::new(server.channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "kcn.ledger.v1.RegistryService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(server.channel.clone())
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a list of services");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for s in [
        "kcn.ledger.v1.RegistryService",
        "kcn.ledger.v1.InformationExchangeService",
        "kcn.ledger.v1.AuditService",
    ] {
        assert!(names.contains(&s.to_owned()), "{s} not in {names:?}");
    }
}

#[tokio::test]
async fn a_projector_stopped_at_an_unreadable_event_says_why_through_health_and_status() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let server = TestServer::start().await;
    let p = seed(&server).await;
    let dir = server.stop().await;
    // An event the read models cannot read, written behind the server's back (as only someone with
    // the database file could): its payload is not JSON.
    let bad = p.last_position + 1;
    {
        let backend = kcn_eventstore::SqliteBackend::open(
            &dir.path().join("kcn-ledger.sqlite"),
            kcn_eventstore::SqliteDurability::Full,
        )
        .await
        .unwrap();
        let appended = crate::schema::append_raw(
            &backend,
            kcn_eventstore::StoredEvent {
                position: 0,
                event_id: uuid::Uuid::now_v7(),
                aggregate_type: "Park".into(),
                aggregate_id: p.park.clone(),
                aggregate_version: 4,
                event_type: "OccupancyReported".into(),
                schema_version: 1,
                occurred_at: "2025-05-01T00:00:00.000000Z".into(),
                recorded_at: "2026-01-01T00:00:00.000000Z".into(),
                payload: b"not json".to_vec(),
                metadata: b"{}".to_vec(),
            },
        )
        .await;
        assert_eq!(appended.position, bad);
    }
    let server = TestServer::start_in(dir).await;
    let mut audit = server.audit();
    let mut health = HealthClient::new(server.channel.clone());
    let last_seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stopped = wait_until(Duration::from_secs(30), || {
        let mut audit = audit.clone();
        let mut health = health.clone();
        let last_seen = last_seen.clone();
        async move {
            let status = audit
                .get_projection_status(proto::GetProjectionStatusRequest {})
                .await
                .unwrap()
                .into_inner();
            let timeline = &status.projections[0];
            let named =
                timeline.position == bad - 1 && timeline.error.contains(&format!("position {bad}"));
            let check = health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: "kcn.ledger.v1.AuditQueryService".into(),
                })
                .await
                .unwrap()
                .into_inner();
            *last_seen.lock().unwrap() =
                format!("{:?}, health {}", status.projections, check.status);
            named && check.status == ServingStatus::NotServing as i32
        }
    })
    .await;
    assert!(
        stopped,
        "the timeline stops before the unreadable event and health reports it; last seen: {}",
        last_seen.lock().unwrap()
    );
    // It never skipped: the timeline is still at the last good position.
    let status = audit
        .get_projection_status(proto::GetProjectionStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.projections[0].position, bad - 1);
    assert_eq!(status.projections[0].lag, 1);
    // A query that waits for the unreadable position is told at once that the read model stopped.
    let waited = audit
        .get_timeline(proto::GetTimelineRequest {
            subject_type: proto::SubjectType::Park as i32,
            subject_id: p.park.clone(),
            min_position: bad,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(waited.code(), Code::Unavailable, "{waited:?}");
    assert_eq!(
        waited
            .get_error_details()
            .error_info()
            .map(|i| i.reason.as_str()),
        Some("READ_MODEL_STOPPED")
    );
    // Overall health follows every part.
    let overall = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overall.status, ServingStatus::NotServing as i32);
    // The command side is not what failed: the registry still serves.
    let registry = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "kcn.ledger.v1.RegistryService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(registry.status, ServingStatus::Serving as i32);
}
