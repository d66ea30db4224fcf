//! A full information exchange through the real server (on SQLite and on PostgreSQL), and its rules.

use kcn_services::proto;

use crate::harness::{TestServer, header, on_both_backends, precondition_types, seed, ts};

pub fn board_to_company(
    board: &str,
    company: &str,
    park: &str,
) -> proto::RequestInformationRequest {
    proto::RequestInformationRequest {
        header: header("2025-05-01T02:00:00Z"),
        from: Some(proto::OrganisationRef {
            kind: proto::OrganisationKind::Authority as i32,
            id: board.to_owned(),
        }),
        to: Some(proto::OrganisationRef {
            kind: proto::OrganisationKind::InfrastructureCompany as i32,
            id: company.to_owned(),
        }),
        park_id: park.to_owned(),
        subject: "Central wastewater plant capacity".into(),
        body: "Please report capacity (m³/day), load and monitoring connection.".into(),
        due_at: Some(ts("2025-05-10T10:00:00Z")),
    }
}

async fn a_full_exchange_is_requested_answered_clarified_and_closed(server: TestServer) {
    let p = seed(&server).await;
    let mut x = server.exchanges();
    let opened = x
        .request_information(board_to_company(&p.board, &p.company, &p.park))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let id = opened.aggregate_id.clone();
    x.provide_information(proto::ProvideInformationRequest {
        header: header("2025-05-05T02:00:00Z"),
        exchange_id: id.clone(),
        body: "5,000 m³/day, running at 62%; connected to automatic monitoring.".into(),
        attachments: vec![proto::Attachment {
            name: "wwtp-report.pdf".into(),
            sha256: "ab".repeat(32),
        }],
    })
    .await
    .unwrap();
    x.request_clarification(proto::RequestClarificationRequest {
        header: header("2025-05-06T02:00:00Z"),
        exchange_id: id.clone(),
        question: "Which month is the load figure for?".into(),
    })
    .await
    .unwrap();
    x.provide_information(proto::ProvideInformationRequest {
        header: header("2025-05-07T02:00:00Z"),
        exchange_id: id.clone(),
        body: "April 2025.".into(),
        attachments: vec![],
    })
    .await
    .unwrap();
    let closed = x
        .close_exchange(proto::CloseExchangeRequest {
            header: header("2025-05-08T02:00:00Z"),
            exchange_id: id.clone(),
            note: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(closed.aggregate_version, 5);
    assert_eq!(closed.first_position, opened.first_position + 4);

    let got = x
        .get_exchange(proto::GetExchangeRequest { exchange_id: id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status, proto::ExchangeStatus::Closed as i32);
    assert_eq!(got.answers, 2);
    assert_eq!(got.clarifications, 1);
    assert_eq!(got.first_answer_at, Some(ts("2025-05-05T02:00:00Z")));
    assert_eq!(
        got.request.unwrap().due_at,
        Some(ts("2025-05-10T10:00:00Z"))
    );

    let types: Vec<String> = server
        .read_log()
        .await
        .into_iter()
        .filter(|e| e.aggregate_type == "InformationExchange")
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        types,
        [
            "InformationRequested",
            "InformationProvided",
            "ClarificationRequested",
            "InformationProvided",
            "ExchangeClosed"
        ]
    );

    // A refused command leaves no trace.
    let before = server.read_log().await.len();
    let status = x
        .provide_information(proto::ProvideInformationRequest {
            header: header("2025-05-09T02:00:00Z"),
            exchange_id: closed.aggregate_id,
            body: "too late".into(),
            attachments: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(server.read_log().await.len(), before);
}

on_both_backends!(a_full_exchange_is_requested_answered_clarified_and_closed);

#[tokio::test]
async fn a_withdrawn_request_cannot_be_answered_and_the_refusal_leaves_no_trace() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut x = server.exchanges();
    let id = x
        .request_information(board_to_company(&p.board, &p.company, &p.park))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    x.withdraw_exchange(proto::WithdrawExchangeRequest {
        header: header("2025-05-02T02:00:00Z"),
        exchange_id: id.clone(),
        reason: "sent to the wrong company".into(),
    })
    .await
    .unwrap();
    let before = server.read_log().await.len();
    let status = x
        .provide_information(proto::ProvideInformationRequest {
            header: header("2025-05-03T02:00:00Z"),
            exchange_id: id,
            body: "an answer".into(),
            attachments: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["EXCHANGE_WITHDRAWN"]);
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn a_request_to_a_party_that_does_not_exist_is_refused() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut request = board_to_company(&p.board, &uuid::Uuid::now_v7().to_string(), &p.park);
    request.park_id = String::new();
    let status = server
        .exchanges()
        .request_information(request)
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["UNKNOWN_REFERENCE"]);
}
