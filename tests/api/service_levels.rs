//! The agreement's other service levels are judged, not only stored: the Board determines a
//! consultation within `consultation_answer_days` of its opening (15 in the Bình Dương agreement),
//! and a company delivers infrastructure information within `infrastructure_information_days` of
//! the date it describes (10). Each breach is in the command's answer and in the register; a
//! consultation still undetermined past its days is owed there.

use kcn_services::proto;

use crate::breaches::{assert_registered, register};
use crate::consultation::{consultations, determining, open};
use crate::harness::{TestServer, header, seed, ts};

/// Determines a consultation suitable at `when`; returns the outcome.
async fn determine(server: &TestServer, id: &str, when: &str) -> proto::CommandOutcome {
    consultations(server)
        .determine_suitability(determining(id, proto::Suitability::Suitable, &[], when))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
}

fn limits(outcome: &proto::CommandOutcome) -> Vec<(&str, &str)> {
    outcome
        .breaches
        .iter()
        .map(|b| (b.limit.as_str(), b.detail.as_str()))
        .collect()
}

async fn the_consultation_and_infrastructure_days_of_the_agreement_are_judged(server: TestServer) {
    let p = seed(&server).await;
    crate::agreement::sign(&server, &p).await;

    // Opened on 2 May, determined on 20 May: 18 days, the agreement allows 15.
    let late = open(&server, &p, "2025-05-02T02:00:00Z").await;
    let outcome = determine(&server, &late, "2025-05-20T02:00:00Z").await;
    assert_eq!(
        limits(&outcome),
        [(
            "consultation_determined_late",
            "opened on 2025-05-02 and determined on 2025-05-20, 18 days later; the coordination agreement allows 15"
        )]
    );
    assert_registered(&server, &outcome).await;
    // Opened on 5 May, determined on the 20th: 15 days, on time.
    let on_time = open(&server, &p, "2025-05-05T02:00:00Z").await;
    let outcome = determine(&server, &on_time, "2025-05-20T03:00:00Z").await;
    assert!(outcome.breaches.is_empty(), "{outcome:?}");
    // Opened on 6 May and never determined: due by 21 May, owed from the 22nd.
    let silent = open(&server, &p, "2025-05-06T02:00:00Z").await;

    let mut reg = server.registry();
    let report = |as_of: &str, at: &str| proto::ReportEnvironmentalInfrastructureRequest {
        header: header(at),
        park_id: p.park.clone(),
        company_id: p.company.clone(),
        wastewater_capacity_m3_per_day: 5_000,
        wastewater_load_m3_per_day: Some(3_100),
        monitoring_connected: true,
        as_of: as_of.into(),
    };
    let within = reg
        .report_environmental_infrastructure(report("2025-06-01", "2025-06-11T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert!(within.breaches.is_empty(), "10 days: {within:?}");
    let outcome = reg
        .report_environmental_infrastructure(report("2025-06-01", "2025-06-20T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(
        limits(&outcome),
        [(
            "infrastructure_information_late",
            "infrastructure as of 2025-06-01 reported on 2025-06-20, 19 days later; the coordination agreement allows 10"
        )]
    );
    assert_registered(&server, &outcome).await;

    let owed = |as_of: &str| proto::ListBreachesRequest {
        from_date: "2025-05-01".into(),
        to_date: "2025-05-31".into(),
        as_of: Some(ts(as_of)),
        limits: vec!["consultation_determination_overdue".into()],
        min_position: outcome.last_position,
        ..Default::default()
    };
    assert!(
        register(&server, owed("2025-05-21T16:00:00Z"))
            .await
            .is_empty()
    );
    let rows = register(&server, owed("2025-05-22T02:00:00Z")).await;
    let ids: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.aggregate_id.as_str(), r.due_on.as_str()))
        .collect();
    assert_eq!(ids, [(silent.as_str(), "2025-05-21")]);
}

crate::harness::on_both_backends!(
    the_consultation_and_infrastructure_days_of_the_agreement_are_judged
);
