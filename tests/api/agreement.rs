//! The coordination regulation through the real server: signed by the Board and the company in April
//! 2025, amended, and replaced by the city's regulation after the merger; and the rules that refuse
//! an incoherent step.

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::agreement_service_client::AgreementServiceClient;

use crate::harness::{Province, TestServer, header, precondition_types, seed, violated_fields};

pub fn agreements(server: &TestServer) -> AgreementServiceClient<Channel> {
    AgreementServiceClient::new(server.channel.clone())
}

pub fn levels(hours: u32, answer_days: u32) -> proto::ServiceLevels {
    proto::ServiceLevels {
        incident_notification_hours: hours,
        information_answer_days: answer_days,
        infrastructure_information_days: Some(10),
        consultation_answer_days: Some(15),
        quarterly_report_due_day: Some(10),
    }
}

/// The Bình Dương regulation of April 2025, signed on 11 April (local date).
pub fn signing(p: &Province, when: &str) -> proto::SignAgreementRequest {
    proto::SignAgreementRequest {
        header: header(when),
        authority_id: p.board.clone(),
        company_ids: vec![p.company.clone()],
        version: "2025".into(),
        title: "Quy chế phối hợp quản lý nhà nước về bảo vệ môi trường tại các khu công nghiệp"
            .into(),
        document_no: "01/QCPH-BQL".into(),
        signed_on: String::new(),
        effective_from: String::new(),
        document_sha256: "1f".repeat(32),
        service_levels: Some(levels(2, 7)),
    }
}

pub async fn sign(server: &TestServer, p: &Province) -> String {
    agreements(server)
        .sign_agreement(signing(p, "2025-04-11T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id
}

fn amending(id: &str, when: &str, from: &str) -> proto::AmendAgreementRequest {
    proto::AmendAgreementRequest {
        header: header(when),
        agreement_id: id.to_owned(),
        amendment_no: "01/2025/SĐ".into(),
        service_levels: Some(levels(1, 5)),
        effective_from: from.into(),
        document_sha256: String::new(),
        reason: "faster incident notification after the Đồng An overflow".into(),
    }
}

fn superseding(id: &str, by: &str, when: &str) -> proto::SupersedeAgreementRequest {
    proto::SupersedeAgreementRequest {
        header: header(when),
        agreement_id: id.to_owned(),
        by: by.to_owned(),
        effective_from: "2025-09-01".into(),
    }
}

#[tokio::test]
async fn a_regulation_is_signed_amended_and_replaced() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut a = agreements(&server);
    let id = sign(&server, &p).await;
    a.amend_agreement(amending(&id, "2025-05-20T02:00:00Z", "2025-06-01"))
        .await
        .unwrap();
    let next = a
        .sign_agreement(proto::SignAgreementRequest {
            version: "2025-HCM".into(),
            effective_from: "2025-09-01".into(),
            ..signing(&p, "2025-08-20T02:00:00Z")
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    let replaced = a
        .supersede_agreement(superseding(&id, &next, "2025-08-20T03:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(replaced.aggregate_version, 3);

    let got = a
        .get_agreement(proto::GetAgreementRequest {
            agreement_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let signed = got.signed.unwrap();
    assert_eq!(signed.signed_on, "2025-04-11");
    assert_eq!(signed.effective_from, "2025-04-11");
    assert_eq!(got.amendments, 1);
    let periods: Vec<(String, u32)> = got
        .service_levels
        .iter()
        .map(|p| {
            (
                p.effective_from.clone(),
                p.service_levels.unwrap().incident_notification_hours,
            )
        })
        .collect();
    assert_eq!(
        periods,
        [("2025-04-11".to_owned(), 2), ("2025-06-01".to_owned(), 1)]
    );
    assert_eq!(got.superseded.unwrap().by, next);

    // The stored payload is the proto3 JSON of AgreementSigned, with the current schema version.
    let log = server.read_log().await;
    let stored = log
        .iter()
        .find(|e| e.event_type == "AgreementSigned")
        .unwrap();
    assert_eq!(stored.schema_version, 2);
    let payload: serde_json::Value = serde_json::from_slice(&stored.payload).unwrap();
    assert_eq!(payload["service_levels"]["incident_notification_hours"], 2);
    assert_eq!(payload["company_ids"][0], p.company.as_str());
}

#[tokio::test]
async fn a_superseded_regulation_cannot_be_amended_or_superseded_again() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut a = agreements(&server);
    let id = sign(&server, &p).await;
    let next = sign(&server, &p).await;
    a.supersede_agreement(superseding(&id, &next, "2025-08-20T03:00:00Z"))
        .await
        .unwrap();
    let before = server.read_log().await.len();
    let status = a
        .amend_agreement(amending(&id, "2025-08-21T02:00:00Z", "2025-09-15"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["AGREEMENT_SUPERSEDED"]);
    let status = a
        .supersede_agreement(superseding(&id, &next, "2025-08-22T03:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(
        precondition_types(&status),
        vec!["AGREEMENT_ALREADY_SUPERSEDED"]
    );
    assert_eq!(
        server.read_log().await.len(),
        before,
        "refusals append nothing"
    );
}

#[tokio::test]
async fn a_regulation_is_superseded_only_by_a_recorded_one() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let id = sign(&server, &p).await;
    let status = agreements(&server)
        .supersede_agreement(superseding(
            &id,
            &uuid::Uuid::now_v7().to_string(),
            "2025-08-20T03:00:00Z",
        ))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["UNKNOWN_REFERENCE"]);
}

#[tokio::test]
async fn service_levels_must_be_positive_and_the_signing_date_must_be_the_local_date() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut a = agreements(&server);
    let status = a
        .sign_agreement(proto::SignAgreementRequest {
            service_levels: Some(levels(0, 7)),
            ..signing(&p, "2025-04-11T02:00:00Z")
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        vec!["service_levels.incident_notification_hours"]
    );
    // 2025-04-10T18:00Z is 11 April in Vietnam.
    let status = a
        .sign_agreement(proto::SignAgreementRequest {
            signed_on: "2025-04-10".into(),
            ..signing(&p, "2025-04-10T18:00:00Z")
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["signed_on"]);
    let status = a
        .sign_agreement(proto::SignAgreementRequest {
            service_levels: None,
            document_sha256: "not-a-hash".into(),
            ..signing(&p, "2025-04-11T02:00:00Z")
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        vec!["document_sha256", "service_levels"]
    );
    assert_eq!(server.read_log().await.len() as u64, p.last_position);
}
