//! The register of breaches through the real server, on both backends: a province's year of late
//! and missing acts, each found in the register under the code the command named, with its deadline,
//! its parties and the events that opened and fulfilled it.

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::audit_query_service_client::AuditQueryServiceClient;

use crate::annual_plan::{complete, issue, plans};
use crate::harness::{Province, TestServer, header, on_both_backends, seed, ts, violated_fields};
use crate::incident::{incidents, notify, overflow};
use crate::procedure::{deciding, procedures, receive};

fn audit(server: &TestServer) -> AuditQueryServiceClient<Channel> {
    AuditQueryServiceClient::new(server.channel.clone())
}

/// The register of 2025 as judged at `as_of`, once it has applied the whole year.
fn asking(y: &Year, as_of: &str) -> proto::ListBreachesRequest {
    proto::ListBreachesRequest {
        from_date: "2025-01-01".into(),
        to_date: "2025-12-31".into(),
        as_of: Some(ts(as_of)),
        min_position: y.last_position,
        ..Default::default()
    }
}

/// What a year of Đồng An left behind, and every breach the commands named on the way.
struct Year {
    p: Province,
    agreement: String,
    dossier: String,
    exchange: String,
    late_incident: String,
    silent_incident: String,
    plan: String,
    /// (aggregate id, code) of every breach a command's outcome named.
    named: Vec<(String, String)>,
    /// The positions of the report and the late notification of the first incident.
    late_incident_positions: (u64, u64),
    /// The last position the year wrote.
    last_position: u64,
}

fn named(outcome: &proto::CommandOutcome) -> Vec<(String, String)> {
    outcome
        .breaches
        .iter()
        .map(|b| (outcome.aggregate_id.clone(), b.limit.clone()))
        .collect()
}

async fn year(server: &TestServer) -> Year {
    let p = seed(server).await;
    let mut named_all = Vec::new();
    // The regulation of 11 April 2025: two hours to notify an incident, seven days to answer.
    let agreement = crate::agreement::sign(server, &p).await;

    // A dossier received on 3 March, promised in 15 working days (by 24 March), decided on 25 March.
    let dossier = receive(server, &p, "2025-03-03T02:00:00Z").await;
    let decided = procedures(server)
        .decide_dossier(deciding(&dossier, "2025-03-25T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    named_all.extend(named(&decided));

    // The Board asks the company for its plant's capacity by 10 May 17:00 local; answered on 12 May.
    let mut x = server.exchanges();
    let exchange = x
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
            subject: "Central wastewater plant capacity".into(),
            body: "Please report capacity (m³/day), load and monitoring connection.".into(),
            due_at: Some(ts("2025-05-10T10:00:00Z")),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    let answered = x
        .provide_information(proto::ProvideInformationRequest {
            header: header("2025-05-12T02:00:00Z"),
            exchange_id: exchange.clone(),
            body: "5,000 m³/day, running at 62%; connected to automatic monitoring.".into(),
            attachments: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    named_all.extend(named(&answered));

    // The overflow detected at 23:30Z on 10 June, notified at 02:30Z: an hour past the two hours.
    let mut i = incidents(server);
    let reported = i
        .report_incident(overflow(&p))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let late_incident = reported.aggregate_id.clone();
    let notified = i
        .send_incident_notification(notify(&late_incident, "2025-06-11T02:30:00Z", &p))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    named_all.extend(named(&notified));

    // A second overflow, detected at 01:00Z on 1 July and never notified: due by 03:00Z.
    let mut second = overflow(&p);
    second.header = header("2025-07-01T01:20:00Z");
    second.detected_at = Some(ts("2025-07-01T01:00:00Z"));
    let silent_incident = i
        .report_incident(second)
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;

    // The annual tasks: T-01 due 30 June, completed on 5 July; T-02 due 30 September, not done.
    let plan = issue(server, &p).await;
    let completed = plans(server)
        .complete_task(complete(&plan, "T-01", "2025-07-05T02:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    named_all.extend(named(&completed));

    Year {
        p,
        agreement,
        dossier,
        exchange,
        late_incident,
        silent_incident,
        plan,
        named: named_all,
        late_incident_positions: (reported.last_position, notified.last_position),
        last_position: completed.last_position,
    }
}

pub async fn register(
    server: &TestServer,
    request: proto::ListBreachesRequest,
) -> Vec<proto::RegisteredBreach> {
    audit(server)
        .list_breaches(request)
        .await
        .unwrap()
        .into_inner()
        .breaches
}

fn summary(rows: &[proto::RegisteredBreach]) -> Vec<(String, String, String, i32)> {
    rows.iter()
        .map(|r| {
            (
                r.due_on.clone(),
                r.aggregate_id.clone(),
                r.breach.as_ref().unwrap().limit.clone(),
                r.status,
            )
        })
        .collect()
}

const LATE: i32 = proto::BreachStatus::Late as i32;
const OVERDUE: i32 = proto::BreachStatus::Overdue as i32;

async fn a_year_of_late_and_missing_acts_is_in_the_register_in_deadline_order(server: TestServer) {
    let y = year(&server).await;
    let all = register(&server, asking(&y, "2025-10-10T00:00:00Z")).await;
    let expected = vec![
        // Promised in 15 working days, by Monday 24 March, decided on the 25th.
        ("2025-03-24", &y.dossier, "dossier_decided_late", LATE),
        // Due at 17:00 local on 10 May, answered on the 12th.
        ("2025-05-10", &y.exchange, "information_answered_late", LATE),
        // Due at 01:30Z (08:30 local) on 11 June, notified at 02:30Z.
        (
            "2025-06-11",
            &y.late_incident,
            "incident_notification_late",
            LATE,
        ),
        ("2025-06-30", &y.plan, "task_completed_late", LATE),
        // Due at 03:00Z (10:00 local) on 1 July, never notified.
        (
            "2025-07-01",
            &y.silent_incident,
            "incident_notification_overdue",
            OVERDUE,
        ),
        // T-02's report on Q2, due on day 10 of July by the regulation, never filed (T-01's was
        // owed no more once T-01 was completed on 5 July; Q1 ended before the regulation).
        ("2025-07-10", &y.plan, "quarterly_report_overdue", OVERDUE),
        ("2025-09-30", &y.plan, "task_overdue", OVERDUE),
    ];
    let expected: Vec<(String, String, String, i32)> = expected
        .into_iter()
        .map(|(d, id, code, s)| (d.to_owned(), id.clone(), code.to_owned(), s))
        .collect();
    assert_eq!(summary(&all), expected);

    // Every breach a command named is in the register under the same code.
    assert_eq!(y.named.len(), 4, "{:?}", y.named);
    for (id, code) in &y.named {
        assert!(
            all.iter()
                .any(|r| &r.aggregate_id == id && &r.breach.as_ref().unwrap().limit == code),
            "{code} of {id} is not in the register"
        );
    }

    // The late notification: its parties, the agreement that set two hours, the first late
    // instant, and the events that opened and fulfilled it; its wording is the command's.
    let late = &all[2];
    assert_eq!(late.park_id, y.p.park);
    assert_eq!(late.tenant_id, y.p.tenant);
    assert_eq!(late.company_id, y.p.company);
    assert_eq!(late.authority_id, y.p.board);
    assert_eq!(late.agreement_id, y.agreement);
    assert_eq!(late.aggregate_type, "Incident");
    assert_eq!(late.late_from, Some(ts("2025-06-11T01:30:00.000001Z")));
    assert_eq!(
        late.positions,
        vec![y.late_incident_positions.0, y.late_incident_positions.1]
    );
    assert!(
        late.breach
            .as_ref()
            .unwrap()
            .detail
            .contains("the limit is 2 hours"),
        "{:?}",
        late.breach
    );
    // A task names its item; the overdue one only the event that set it.
    assert_eq!(all[3].item_id, "T-01");
    assert_eq!(all[3].positions.len(), 2);
    assert_eq!(all[5].item_id, "T-02:Q2");
    assert_eq!(all[6].item_id, "T-02");
    assert_eq!(all[6].positions.len(), 1);
    // Every row is the Board's and the company's.
    assert!(
        all.iter()
            .all(|r| r.authority_id == y.p.board && r.company_id == y.p.company)
    );
}

async fn the_register_judges_at_its_as_of_and_filters_by_period_party_and_code(server: TestServer) {
    let y = year(&server).await;

    // At 02:00Z on 11 June the first incident was half an hour overdue and nothing else was due but
    // the dossier and the answer.
    let early = register(&server, asking(&y, "2025-06-11T02:00:00Z")).await;
    assert_eq!(
        summary(&early)
            .into_iter()
            .map(|(_, _, code, status)| (code, status))
            .collect::<Vec<_>>(),
        vec![
            ("dossier_decided_late".to_owned(), LATE),
            ("information_answered_late".to_owned(), LATE),
            ("incident_notification_overdue".to_owned(), OVERDUE),
        ]
    );
    // At 01:30Z exactly it was still on time.
    let on_time = register(&server, asking(&y, "2025-06-11T01:30:00Z")).await;
    assert_eq!(on_time.len(), 2);

    // June alone.
    let june = register(
        &server,
        proto::ListBreachesRequest {
            from_date: "2025-06-01".into(),
            to_date: "2025-06-30".into(),
            ..asking(&y, "2025-10-10T00:00:00Z")
        },
    )
    .await;
    assert_eq!(
        june.iter()
            .map(|r| r.breach.as_ref().unwrap().limit.as_str())
            .collect::<Vec<_>>(),
        vec!["incident_notification_late", "task_completed_late"]
    );

    // The tasks alone, by code.
    let tasks = register(
        &server,
        proto::ListBreachesRequest {
            limits: vec!["task_overdue".into(), "task_completed_late".into()],
            ..asking(&y, "2025-10-10T00:00:00Z")
        },
    )
    .await;
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|r| r.aggregate_id == y.plan));

    // The park, the Board and the company have them all; another company none.
    for request in [
        proto::ListBreachesRequest {
            park_id: y.p.park.clone(),
            ..asking(&y, "2025-10-10T00:00:00Z")
        },
        proto::ListBreachesRequest {
            authority_id: y.p.board.clone(),
            ..asking(&y, "2025-10-10T00:00:00Z")
        },
        proto::ListBreachesRequest {
            company_id: y.p.company.clone(),
            ..asking(&y, "2025-10-10T00:00:00Z")
        },
    ] {
        assert_eq!(register(&server, request).await.len(), 7);
    }
    let other = register(
        &server,
        proto::ListBreachesRequest {
            company_id: "0190f0aa-0000-7000-8000-000000000001".into(),
            ..asking(&y, "2025-10-10T00:00:00Z")
        },
    )
    .await;
    assert!(other.is_empty());

    // Two at a time, the pages are the whole register, judged at the first page's instant.
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = audit(&server)
            .list_breaches(proto::ListBreachesRequest {
                page_size: 2,
                page_token: token.clone(),
                as_of: None,
                ..asking(&y, "2025-10-10T00:00:00Z")
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.breaches.len() <= 2);
        pages.extend(page.breaches);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    // Without as_of the register is judged now (the test clock, 1 January 2026): the seven, and
    // T-02's report on Q3, due on 10 October.
    assert_eq!(
        summary(&pages),
        summary(&register(&server, asking(&y, "2026-01-01T00:00:00Z")).await)
    );
    assert_eq!(pages.len(), 8);
}

async fn a_register_question_out_of_range_is_refused_by_field(server: TestServer) {
    let mut a = audit(&server);
    let status = a
        .list_breaches(proto::ListBreachesRequest {
            from_date: "2025-12-31".into(),
            to_date: "2025-01-01".into(),
            limits: vec!["incident_notification_late".into(), "made_up".into()],
            page_size: 5000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, vec!["limits[1]", "page_size", "to_date"]);
    let missing = a
        .list_breaches(proto::ListBreachesRequest::default())
        .await
        .unwrap_err();
    let mut fields = violated_fields(&missing);
    fields.sort();
    assert_eq!(fields, vec!["from_date", "to_date"]);
    let too_many = a
        .list_breaches(proto::ListBreachesRequest {
            from_date: "2025-01-01".into(),
            to_date: "2025-12-31".into(),
            limits: vec!["task_overdue".into(); 33],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_many), vec!["limits"]);
}

on_both_backends!(
    a_year_of_late_and_missing_acts_is_in_the_register_in_deadline_order,
    the_register_judges_at_its_as_of_and_filters_by_period_party_and_code,
    a_register_question_out_of_range_is_refused_by_field,
);

/// Asserts that every breach a command's outcome names is in the register under the same code and
/// wording, linked to the command's last event.
pub async fn assert_registered(server: &TestServer, outcome: &proto::CommandOutcome) {
    let rows = register(
        server,
        proto::ListBreachesRequest {
            from_date: "1900-01-01".into(),
            to_date: "9999-12-31".into(),
            min_position: outcome.last_position,
            page_size: 1000,
            ..Default::default()
        },
    )
    .await;
    for b in &outcome.breaches {
        assert!(
            rows.iter().any(|r| {
                let registered = r.breach.as_ref().unwrap();
                r.aggregate_id == outcome.aggregate_id
                    && registered.limit == b.limit
                    && registered.detail == b.detail
                    && r.status == LATE
                    && r.positions.contains(&outcome.last_position)
            }),
            "{} ({}) of {} is not in the register: {rows:#?}",
            b.limit,
            b.detail,
            outcome.aggregate_id
        );
    }
}
