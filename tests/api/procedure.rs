//! Administrative procedures through the real server: a tenant's dossier received and decided, the
//! days it took counted against the processing time the regulation promises.

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::procedure_service_client::ProcedureServiceClient;

use crate::harness::{Province, TestServer, header, precondition_types, seed, violated_fields};

pub fn procedures(server: &TestServer) -> ProcedureServiceClient<Channel> {
    ProcedureServiceClient::new(server.channel.clone())
}

/// A dossier for the environmental registration of a tenant, promised in 15 days.
pub fn receiving(p: &Province, when: &str) -> proto::ReceiveDossierRequest {
    proto::ReceiveDossierRequest {
        header: header(when),
        procedure_code: "1.010727".into(),
        authority_id: p.board.clone(),
        tenant_id: p.tenant.clone(),
        park_id: p.park.clone(),
        dossier_no: "HS-2025-0311".into(),
        received_on: String::new(),
        promised_days: Some(15),
    }
}

pub async fn receive(server: &TestServer, p: &Province, when: &str) -> String {
    procedures(server)
        .receive_dossier(receiving(p, when))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id
}

pub fn deciding(id: &str, when: &str) -> proto::DecideDossierRequest {
    proto::DecideDossierRequest {
        header: header(when),
        dossier_id: id.to_owned(),
        outcome: proto::DossierOutcome::Approved as i32,
        decided_on: String::new(),
        decision_no: "377/QĐ-BQL".into(),
        note: String::new(),
    }
}

#[tokio::test]
async fn a_dossier_decided_after_the_promised_days_is_accepted_and_named() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut procs = procedures(&server);
    let on_time = receive(&server, &p, "2025-03-03T02:00:00Z").await;
    let outcome = procs
        .decide_dossier(deciding(&on_time, "2025-03-24T09:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    // Received Monday 3 March 2025, 15 working days promised: Monday 24 March is the 15th.
    assert!(outcome.breaches.is_empty(), "15 working days, as promised");

    let late = receive(&server, &p, "2025-03-03T02:00:00Z").await;
    let outcome = procs
        .decide_dossier(deciding(&late, "2025-03-25T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(outcome.breaches.len(), 1);
    assert_eq!(outcome.breaches[0].limit, "dossier_decided_late");
    crate::breaches::assert_registered(&server, &outcome).await;
    let got = procs
        .get_dossier(proto::GetDossierRequest { dossier_id: late })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.processing_days, Some(16));
    assert_eq!(got.received.unwrap().received_on, "2025-03-03");
    assert_eq!(
        got.decided.unwrap().outcome,
        proto::DossierOutcome::Approved as i32
    );
}

#[tokio::test]
async fn a_dossier_is_decided_once_and_never_before_it_was_received() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut procs = procedures(&server);
    let id = receive(&server, &p, "2025-03-03T02:00:00Z").await;
    let status = procs
        .decide_dossier(deciding(&id, "2025-03-01T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["DECIDED_BEFORE_RECEIVED"]);
    procs
        .decide_dossier(deciding(&id, "2025-03-10T02:00:00Z"))
        .await
        .unwrap();
    let before = server.read_log().await.len();
    let status = procs
        .decide_dossier(proto::DecideDossierRequest {
            outcome: proto::DossierOutcome::Returned as i32,
            ..deciding(&id, "2025-03-11T02:00:00Z")
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["DOSSIER_ALREADY_DECIDED"]);
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn an_outcome_must_be_named_and_the_tenant_must_exist() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let id = receive(&server, &p, "2025-03-03T02:00:00Z").await;
    let status = procedures(&server)
        .decide_dossier(proto::DecideDossierRequest {
            outcome: proto::DossierOutcome::Unspecified as i32,
            ..deciding(&id, "2025-03-10T02:00:00Z")
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["outcome"]);
    let status = procedures(&server)
        .receive_dossier(proto::ReceiveDossierRequest {
            tenant_id: uuid::Uuid::now_v7().to_string(),
            ..receiving(&p, "2025-03-03T02:00:00Z")
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["UNKNOWN_REFERENCE"]);
}
