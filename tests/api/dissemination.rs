//! Dissemination of environmental law through the real server: a training the Board held for the
//! park's companies and tenants, and a guidance document it issued.

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::dissemination_service_client::DisseminationServiceClient;

use crate::harness::{Province, TestServer, header, precondition_types, seed, violated_fields};

pub fn disseminations(server: &TestServer) -> DisseminationServiceClient<Channel> {
    DisseminationServiceClient::new(server.channel.clone())
}

pub fn training(p: &Province, when: &str) -> proto::RecordLegalTrainingRequest {
    proto::RecordLegalTrainingRequest {
        header: header(when),
        authority_id: p.board.clone(),
        topic: "Luật Bảo vệ môi trường 2020: giấy phép môi trường và báo cáo công tác BVMT".into(),
        held_on: String::new(),
        audience: "environmental officers of infrastructure companies and tenant enterprises"
            .into(),
        attendee_count: 146,
        park_ids: vec![p.park.clone()],
    }
}

pub fn guidance(p: &Province, when: &str) -> proto::IssueGuidanceRequest {
    proto::IssueGuidanceRequest {
        header: header(when),
        authority_id: p.board.clone(),
        doc_no: "1021/HD-BQL".into(),
        title: "Hướng dẫn lập báo cáo công tác bảo vệ môi trường năm 2025".into(),
        document_sha256: "3c".repeat(32),
        issued_on: "2025-12-01".into(),
        park_ids: vec![],
    }
}

#[tokio::test]
async fn a_training_and_a_guidance_document_are_recorded_each_as_its_own_act() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut d = disseminations(&server);
    let trained = d
        .record_legal_training(training(&p, "2025-06-05T01:30:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let guided = d
        .issue_guidance(guidance(&p, "2025-12-01T03:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_ne!(trained.aggregate_id, guided.aggregate_id);

    let got = d
        .get_dissemination(proto::GetDisseminationRequest {
            dissemination_id: trained.aggregate_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let t = got.training.unwrap();
    assert_eq!(t.held_on, "2025-06-05");
    assert_eq!(t.attendee_count, 146);
    assert!(got.guidance.is_none());
    let got = d
        .get_dissemination(proto::GetDisseminationRequest {
            dissemination_id: guided.aggregate_id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.guidance.unwrap().issued_on, "2025-12-01");

    // A training for one park is on that park's record, under the authority then responsible.
    let log = server.read_log().await;
    let held = log
        .iter()
        .find(|e| e.event_type == "LegalTrainingHeld")
        .unwrap();
    let metadata: serde_json::Value = serde_json::from_slice(&held.metadata).unwrap();
    assert_eq!(metadata["acting_authority_id"], p.board.as_str());
}

#[tokio::test]
async fn a_held_on_that_is_not_the_local_date_is_invalid() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    // 2025-06-04T18:00Z is 5 June in Vietnam.
    let status = disseminations(&server)
        .record_legal_training(proto::RecordLegalTrainingRequest {
            held_on: "2025-06-04".into(),
            ..training(&p, "2025-06-04T18:00:00Z")
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["held_on"]);
    let status = disseminations(&server)
        .record_legal_training(proto::RecordLegalTrainingRequest {
            attendee_count: 0,
            ..training(&p, "2025-06-05T01:30:00Z")
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["attendee_count"]);
    assert_eq!(server.read_log().await.len() as u64, p.last_position);
}

#[tokio::test]
async fn guidance_from_an_unknown_authority_is_refused() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let status = disseminations(&server)
        .issue_guidance(proto::IssueGuidanceRequest {
            authority_id: uuid::Uuid::now_v7().to_string(),
            ..guidance(&p, "2025-12-01T03:00:00Z")
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["UNKNOWN_REFERENCE"]);
}
