//! The ledger records a true fact whatever order it arrives in: a tenant's late report entered after
//! a later-dated permit, a notification sent after the incident was resolved, an announced inspection
//! started before its decision was delivered. Each is named as a breach where a limit applies, in
//! the command's answer and in the register. Only orderings that cannot happen are refused (an
//! answer before its request, a delivery before the decision it delivers), and leave nothing.

use kcn_services::proto;

use crate::breaches::assert_registered;
use crate::harness::{TestServer, header, precondition_types, seed};
use crate::incident::{incidents, notify, report_overflow, resolve};
use crate::inspection::{deliver, inspections, issue, plan, start};

fn limits(outcome: &proto::CommandOutcome) -> Vec<&str> {
    outcome.breaches.iter().map(|b| b.limit.as_str()).collect()
}

async fn a_late_report_entered_after_a_later_dated_permit_is_recorded_and_named(
    server: TestServer,
) {
    let p = seed(&server).await;
    let mut reg = server.registry();
    reg.record_environmental_permit(proto::RecordEnvironmentalPermitRequest {
        header: header("2025-06-01T02:00:00Z"),
        tenant_id: p.tenant.clone(),
        permit_no: "GPMT-112/2025".into(),
        issuer: "UBND tỉnh Bình Dương".into(),
        valid_from: "2025-06-01".into(),
        valid_to: String::new(),
    })
    .await
    .unwrap();
    // The report for 2024, submitted on 3 March 2025 (due 15 January), entered in June.
    let outcome = reg
        .submit_annual_environmental_report(proto::SubmitAnnualEnvironmentalReportRequest {
            header: header("2025-03-03T02:00:00Z"),
            tenant_id: p.tenant.clone(),
            year: 2024,
            submitted_on: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(limits(&outcome), ["tenant_annual_report_late"]);
    assert_registered(&server, &outcome).await;
}

async fn a_notification_sent_after_the_resolution_is_recorded_and_judged(server: TestServer) {
    let p = seed(&server).await;
    // The agreement allows 2 hours from the detection (23:30 on 10 June, UTC).
    crate::agreement::sign(&server, &p).await;
    let id = report_overflow(&server, &p).await;
    let mut c = incidents(&server);
    c.resolve_incident(resolve(&id, "2025-06-12T08:00:00Z"))
        .await
        .unwrap();
    let outcome = c
        .send_incident_notification(notify(&id, "2025-06-12T09:00:00Z", &p))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(limits(&outcome), ["incident_notification_late"]);
    assert_registered(&server, &outcome).await;

    // Nothing about an incident precedes its detection.
    let before = server.read_log().await.len();
    let status = c
        .send_incident_notification(notify(&id, "2025-06-10T23:00:00Z", &p))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["BUSINESS_TIME_GOES_BACK"]);
    assert!(status.message().contains("the detection"), "{status:?}");
    assert_eq!(server.read_log().await.len(), before);
}

async fn an_announced_inspection_started_before_its_delivery_is_recorded_and_named(
    server: TestServer,
) {
    let p = seed(&server).await;
    let mut c = inspections(&server);
    let id = c
        .plan_inspection(plan(
            &p,
            proto::InspectionKind::PostCheck,
            "2025-05-01T02:00:00Z",
        ))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    c.issue_inspection_decision(issue(&id, "2025-05-02T02:00:00Z", ""))
        .await
        .unwrap();
    let deliver = |when: &str| deliver(&id, when);

    // A delivery dated before the decision's issue cannot be: refused, nothing recorded.
    let before = server.read_log().await.len();
    let status = c
        .deliver_inspection_decision(deliver("2025-05-01T03:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["BUSINESS_TIME_GOES_BACK"]);
    assert_eq!(server.read_log().await.len(), before);

    // Started on 3 May with no delivery recorded: a fact, recorded; nothing judged yet.
    let started = c
        .start_inspection(start(&id, "2025-05-03T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert!(started.breaches.is_empty(), "{started:?}");
    // Delivered on 4 May, within the 5 days, but a day after the start: named on the delivery.
    let delivered = c
        .deliver_inspection_decision(deliver("2025-05-04T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(limits(&delivered), ["inspection_started_before_delivery"]);
    assert_eq!(
        delivered.breaches[0].detail,
        "the announced inspection started on 2025-05-03, before its decision was delivered on 2025-05-04"
    );
    assert_registered(&server, &delivered).await;
}

async fn an_answer_dated_before_its_request_is_refused(server: TestServer) {
    let p = seed(&server).await;
    let mut x = server.exchanges();
    let id = x
        .request_information(proto::RequestInformationRequest {
            due_at: None,
            ..crate::information_exchange::board_to_company(&p.board, &p.company, &p.park)
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    let answer = |when: &str| proto::ProvideInformationRequest {
        header: header(when),
        exchange_id: id.clone(),
        body: "5,000 m³/day, running at 62%.".into(),
        attachments: vec![],
    };
    x.provide_information(answer("2025-05-07T02:00:00Z"))
        .await
        .unwrap();
    x.request_clarification(proto::RequestClarificationRequest {
        header: header("2025-05-08T02:00:00Z"),
        exchange_id: id.clone(),
        question: "Which month is the load figure for?".into(),
    })
    .await
    .unwrap();
    // A clarification of an answer cannot precede the first answer.
    let status = x
        .request_clarification(proto::RequestClarificationRequest {
            header: header("2025-05-06T02:00:00Z"),
            exchange_id: id.clone(),
            question: "And the month before?".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["BUSINESS_TIME_GOES_BACK"]);
    let before = server.read_log().await.len();
    let status = x
        .provide_information(answer("2025-04-30T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), ["BUSINESS_TIME_GOES_BACK"]);
    assert!(status.message().contains("the request"), "{status:?}");
    assert_eq!(server.read_log().await.len(), before);
    // Dated after the request but before the answer and clarification recorded earlier: a true
    // order (an answer sent in two parts, the first entered late), recorded.
    x.provide_information(answer("2025-05-05T02:00:00Z"))
        .await
        .unwrap();
}

crate::harness::on_both_backends!(
    a_late_report_entered_after_a_later_dated_permit_is_recorded_and_named,
    a_notification_sent_after_the_resolution_is_recorded_and_judged,
    an_announced_inspection_started_before_its_delivery_is_recorded_and_named,
    an_answer_dated_before_its_request_is_refused,
);
