//! The Bình Dương succession through the real server: on 2025-07-28 the province's Industrial Parks
//! Management Board (with Bà Rịa - Vũng Tàu's) was merged into Hồ Chí Minh City's Export-Processing
//! and Industrial Zones Management Board. The succession moves no park by itself; each park gets its
//! own jurisdiction, and the old Board is given none from that date on.

use kcn_services::proto;

use crate::harness::{Province, TestServer, header, precondition_types, seed};

/// The city's board and Bà Rịa - Vũng Tàu's, besides the seeded Bình Dương Board.
pub struct Boards {
    pub city: String,
    pub vung_tau: String,
}

pub async fn establish_boards(server: &TestServer) -> Boards {
    let mut reg = server.registry();
    let mut establish = async |name: &str, kind, jurisdiction: &str, decision: &str, from: &str| {
        reg.establish_authority(proto::EstablishAuthorityRequest {
            header: header("2025-04-01T01:00:00Z"),
            name: name.into(),
            kind: kind as i32,
            jurisdiction: jurisdiction.into(),
            decision_no: decision.into(),
            effective_from: from.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id
    };
    let city = establish(
        "Ban quản lý các khu chế xuất và công nghiệp Thành phố Hồ Chí Minh",
        proto::AuthorityKind::ExportProcessingAndIndustrialZonesBoard,
        "Thành phố Hồ Chí Minh",
        "QĐ-732/1992",
        "1992-01-01",
    )
    .await;
    let vung_tau = establish(
        "Ban quản lý các khu công nghiệp Bà Rịa - Vũng Tàu",
        proto::AuthorityKind::IndustrialParksBoard,
        "Bà Rịa - Vũng Tàu",
        "QĐ-BRVT/1996",
        "1996-01-01",
    )
    .await;
    Boards { city, vung_tau }
}

fn succession(
    authority: &str,
    p: &Province,
    b: &Boards,
    when: &str,
) -> proto::RecordAuthoritySuccessionRequest {
    proto::RecordAuthoritySuccessionRequest {
        header: header(when),
        authority_id: authority.to_owned(),
        predecessors: vec![p.board.clone(), b.vung_tau.clone()],
        successor: b.city.clone(),
        effective_date: "2025-07-28".into(),
        legal_basis: "Quyết định của UBND Thành phố Hồ Chí Minh về hợp nhất các Ban quản lý".into(),
    }
}

/// Records the merger on both predecessors' streams and gives the park to the city's board.
pub async fn merge_and_reassign(server: &TestServer, p: &Province, b: &Boards) {
    let mut reg = server.registry();
    for board in [&p.board, &b.vung_tau] {
        reg.record_authority_succession(succession(board, p, b, "2025-07-28T03:00:00Z"))
            .await
            .unwrap();
    }
    reg.assign_jurisdiction(proto::AssignJurisdictionRequest {
        header: header("2025-07-28T04:00:00Z"),
        park_id: p.park.clone(),
        authority_id: b.city.clone(),
        effective_from: "2025-07-28".into(),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_binh_duong_board_is_succeeded_and_its_park_moves_to_the_city_board() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let b = establish_boards(&server).await;
    let mut reg = server.registry();

    let outcome = reg
        .record_authority_succession(succession(&p.board, &p, &b, "2025-07-28T03:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(outcome.aggregate_id, p.board);
    assert_eq!(outcome.aggregate_version, 2);

    // The succession moves no park by itself.
    let park = reg
        .get_park(proto::GetParkRequest {
            park_id: p.park.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(park.jurisdictions.len(), 1);
    assert_eq!(park.jurisdictions[0].id, p.board);

    let moved = reg
        .assign_jurisdiction(proto::AssignJurisdictionRequest {
            header: header("2025-07-28T04:00:00Z"),
            park_id: p.park.clone(),
            authority_id: b.city.clone(),
            effective_from: "2025-07-28".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert!(moved.breaches.is_empty());

    let board = reg
        .get_authority(proto::GetAuthorityRequest {
            authority_id: p.board.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let s = board.succession.expect("the Board records its succession");
    assert_eq!(s.successor, b.city);
    assert_eq!(s.effective_date, "2025-07-28");
    assert_eq!(s.predecessors, vec![p.board.clone(), b.vung_tau.clone()]);

    let park = reg
        .get_park(proto::GetParkRequest {
            park_id: p.park.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let periods: Vec<(&str, &str)> = park
        .jurisdictions
        .iter()
        .map(|j| (j.id.as_str(), j.effective_from.as_str()))
        .collect();
    assert_eq!(
        periods,
        [
            (p.board.as_str(), "2006-01-01"),
            (b.city.as_str(), "2025-07-28")
        ]
    );

    // Assigning the old Board afterwards is refused, and the refusal leaves no trace.
    let before = server.read_log().await.len();
    let status = reg
        .assign_jurisdiction(proto::AssignJurisdictionRequest {
            header: header("2025-08-05T02:00:00Z"),
            park_id: p.park.clone(),
            authority_id: p.board.clone(),
            effective_from: "2025-08-05".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["AUTHORITY_SUCCEEDED"]);
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn events_record_the_authority_with_jurisdiction_on_their_own_date() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let b = establish_boards(&server).await;
    merge_and_reassign(&server, &p, &b).await;
    let mut reg = server.registry();
    // Recorded after the merger, about acts on either side of it.
    for (when, permit) in [
        ("2025-07-20T02:00:00Z", "GP-001/2025"),
        ("2025-08-04T02:00:00Z", "GP-002/2025"),
    ] {
        reg.record_environmental_permit(proto::RecordEnvironmentalPermitRequest {
            header: header(when),
            tenant_id: p.tenant.clone(),
            permit_no: permit.into(),
            issuer: "Sở Tài nguyên và Môi trường".into(),
            valid_from: "2025-07-01".into(),
            valid_to: String::new(),
        })
        .await
        .unwrap();
    }
    let acting: Vec<String> = server
        .read_log()
        .await
        .iter()
        .filter(|e| e.event_type == "EnvironmentalPermitRecorded")
        .map(|e| {
            let m: serde_json::Value = serde_json::from_slice(&e.metadata).unwrap();
            m["acting_authority_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(acting, [p.board.clone(), b.city.clone()]);
}

#[tokio::test]
async fn an_authority_is_succeeded_once_and_only_by_a_known_successor() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let b = establish_boards(&server).await;
    let mut reg = server.registry();
    let mut unknown = succession(&p.board, &p, &b, "2025-07-28T03:00:00Z");
    unknown.successor = uuid::Uuid::now_v7().to_string();
    let status = reg.record_authority_succession(unknown).await.unwrap_err();
    assert_eq!(precondition_types(&status), vec!["UNKNOWN_REFERENCE"]);

    reg.record_authority_succession(succession(&p.board, &p, &b, "2025-07-28T03:00:00Z"))
        .await
        .unwrap();
    let status = reg
        .record_authority_succession(succession(&p.board, &p, &b, "2025-07-29T03:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(
        precondition_types(&status),
        vec!["AUTHORITY_ALREADY_SUCCEEDED"]
    );
}

#[tokio::test]
async fn jurisdiction_before_the_succession_date_may_still_be_recorded() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let b = establish_boards(&server).await;
    let mut reg = server.registry();
    reg.record_authority_succession(succession(&p.board, &p, &b, "2025-07-28T03:00:00Z"))
        .await
        .unwrap();
    // A second park that the Board oversaw from 1996: history before the merger stays recordable.
    let vsip = reg
        .register_park(proto::RegisterParkRequest {
            header: header("2025-07-29T02:00:00Z"),
            code: "VSIP-1".into(),
            name: "KCN Việt Nam - Singapore".into(),
            area_ha: "500".into(),
            location: "Thuận An, Bình Dương".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    reg.assign_jurisdiction(proto::AssignJurisdictionRequest {
        header: header("2025-07-29T02:10:00Z"),
        park_id: vsip.clone(),
        authority_id: p.board.clone(),
        effective_from: "1996-05-14".into(),
    })
    .await
    .expect("a jurisdiction that began before the succession is history, not a new duty");
    let status = reg
        .assign_jurisdiction(proto::AssignJurisdictionRequest {
            header: header("2025-07-29T02:20:00Z"),
            park_id: vsip,
            authority_id: p.board.clone(),
            effective_from: "2025-07-28".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["AUTHORITY_SUCCEEDED"]);
}

/// Asserts that a command naming the succeeded Board was refused under `authority_succeeded`.
fn succeeded<T: std::fmt::Debug>(result: Result<T, tonic::Status>) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert_eq!(precondition_types(&status), vec!["AUTHORITY_SUCCEEDED"]);
}

async fn a_succeeded_board_takes_no_new_duties_in_any_command_its_successor_does(server: TestServer) {
    let p = seed(&server).await;
    let b = establish_boards(&server).await;
    merge_and_reassign(&server, &p, &b).await;
    let before = server.read_log().await.len();
    let after_merger = "2025-08-05T02:00:00Z";

    // Each duty given to the Bình Dương Board on or after 28 July 2025 is refused.
    let mut agreements = crate::agreement::agreements(&server);
    succeeded(
        agreements
            .sign_agreement(crate::agreement::signing(&p, after_merger))
            .await,
    );
    let mut plans = crate::annual_plan::plans(&server);
    let mut tasks = crate::annual_plan::issuing(&p);
    tasks.header = header(after_merger);
    tasks.issued_on = "2025-08-05".into();
    tasks.tasks.retain(|t| t.task_id == "T-02");
    succeeded(plans.issue_annual_tasks(tasks.clone()).await);
    let mut trainings = crate::dissemination::disseminations(&server);
    succeeded(
        trainings
            .record_legal_training(crate::dissemination::training(&p, after_merger))
            .await,
    );
    let mut procedures = crate::procedure::procedures(&server);
    succeeded(
        procedures
            .receive_dossier(crate::procedure::receiving(&p, after_merger))
            .await,
    );
    let request = |from: &str| proto::RequestInformationRequest {
        header: header(after_merger),
        from: Some(proto::OrganisationRef {
            kind: proto::OrganisationKind::Authority as i32,
            id: from.to_owned(),
        }),
        to: Some(proto::OrganisationRef {
            kind: proto::OrganisationKind::InfrastructureCompany as i32,
            id: p.company.clone(),
        }),
        park_id: p.park.clone(),
        subject: "Central wastewater plant capacity".into(),
        body: "Please report capacity (m³/day), load and monitoring connection.".into(),
        due_at: None,
    };
    let mut exchanges = server.exchanges();
    succeeded(exchanges.request_information(request(&p.board)).await);
    // An incident reported before the merger, escalated after it.
    let incident = crate::incident::report_overflow(&server, &p).await;
    let before_escalation = server.read_log().await.len();
    let escalate = |to: &str| proto::EscalateIncidentRequest {
        header: header(after_merger),
        incident_id: incident.clone(),
        authority_id: to.to_owned(),
        reason: "The overflow reached Suối Cát".into(),
    };
    let mut incidents = crate::incident::incidents(&server);
    succeeded(incidents.escalate_incident(escalate(&p.board)).await);
    // Nothing refused was recorded.
    assert_eq!(server.read_log().await.len(), before_escalation);
    assert_eq!(before_escalation, before + 1);

    // The successor takes each of them.
    let mut signing = crate::agreement::signing(&p, after_merger);
    signing.authority_id = b.city.clone();
    agreements.sign_agreement(signing).await.unwrap();
    tasks.authority_id = b.city.clone();
    plans.issue_annual_tasks(tasks).await.unwrap();
    let mut training = crate::dissemination::training(&p, after_merger);
    training.authority_id = b.city.clone();
    trainings.record_legal_training(training).await.unwrap();
    let mut dossier = crate::procedure::receiving(&p, after_merger);
    dossier.authority_id = b.city.clone();
    procedures.receive_dossier(dossier).await.unwrap();
    exchanges.request_information(request(&b.city)).await.unwrap();
    incidents.escalate_incident(escalate(&b.city)).await.unwrap();

    // A duty of the Board's own time, recorded late, is a true fact and is recorded.
    procedures
        .receive_dossier(crate::procedure::receiving(&p, "2025-07-27T02:00:00Z"))
        .await
        .unwrap();
}

crate::harness::on_both_backends!(
    a_succeeded_board_takes_no_new_duties_in_any_command_its_successor_does
);
