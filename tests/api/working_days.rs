//! Legal limits in working days (`rules.calendar_days = false`), counted with Vietnam's holidays
//! and make-up days: a decision issued on Thursday 24 April 2025 and delivered on Monday 5 May is
//! within 5 working days (25 April, Saturday 26 April worked in exchange for 2 May, 28, 29 April,
//! then 30 April – 2 May off and the weekend, 5 May), though 11 calendar days late.

use kcn_services::proto;

use crate::breaches::assert_registered;
use crate::harness::{Province, TestServer, seed};
use crate::inspection::{deliver, inspections, issue, plan};

async fn working_days(postgres: bool, test: &str) -> Option<TestServer> {
    let db = if postgres {
        Some(std::sync::Arc::new(
            kcn_testkit::PgTestDatabase::create(test).await?,
        ))
    } else {
        None
    };
    Some(
        TestServer::start_configured(tempfile::tempdir().unwrap(), db, |c| {
            c.rules.calendar_days = false;
        })
        .await,
    )
}

/// Plans and issues an announced inspection on 24 April 2025, delivers it at `delivered_at`, and
/// returns the delivery's outcome.
async fn delivered(server: &TestServer, p: &Province, delivered_at: &str) -> proto::CommandOutcome {
    let mut c = inspections(server);
    let id = c
        .plan_inspection(plan(
            p,
            proto::InspectionKind::PostCheck,
            "2025-04-20T02:00:00Z",
        ))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    c.issue_inspection_decision(issue(&id, "2025-04-24T02:00:00Z", ""))
        .await
        .unwrap();
    c.deliver_inspection_decision(deliver(&id, delivered_at))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
}

async fn a_delivery_is_judged_in_working_days_across_the_april_holidays(postgres: bool) {
    let Some(server) = working_days(postgres, "working_days_delivery").await else {
        return;
    };
    let p = seed(&server).await;
    let on_time = delivered(&server, &p, "2025-05-05T02:00:00Z").await;
    assert!(on_time.breaches.is_empty(), "{on_time:?}");
    let late = delivered(&server, &p, "2025-05-06T02:00:00Z").await;
    let details: Vec<&str> = late.breaches.iter().map(|b| b.detail.as_str()).collect();
    assert_eq!(
        details,
        ["issued on 2025-04-24 and delivered on 2025-05-06, 6 working days later; the limit is 5"]
    );
    assert_registered(&server, &late).await;
}

#[tokio::test]
async fn a_delivery_is_judged_in_working_days_across_the_april_holidays_on_sqlite() {
    a_delivery_is_judged_in_working_days_across_the_april_holidays(false).await;
}

#[tokio::test]
async fn a_delivery_is_judged_in_working_days_across_the_april_holidays_on_postgres() {
    a_delivery_is_judged_in_working_days_across_the_april_holidays(true).await;
}

/// The default counts calendar days: the same delivery is 11 days after the issue.
#[tokio::test]
async fn by_default_the_same_delivery_is_late_in_calendar_days() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let outcome = delivered(&server, &p, "2025-05-05T02:00:00Z").await;
    let details: Vec<&str> = outcome.breaches.iter().map(|b| b.detail.as_str()).collect();
    assert_eq!(
        details,
        ["issued on 2025-04-24 and delivered on 2025-05-05, 11 days later; the limit is 5"]
    );
}
