//! Annual task direction through the real server: the Board issues the 2025 tasks, the company
//! reports progress and completes them; a late completion is accepted and its breach named.

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::annual_plan_service_client::AnnualPlanServiceClient;

use crate::harness::{Province, TestServer, header, precondition_types, seed, violated_fields};

pub fn plans(server: &TestServer) -> AnnualPlanServiceClient<Channel> {
    AnnualPlanServiceClient::new(server.channel.clone())
}

fn task(p: &Province, id: &str, title: &str, due: &str) -> proto::AnnualTask {
    proto::AnnualTask {
        task_id: id.into(),
        title: title.into(),
        description: None,
        assignee_company_id: p.company.clone(),
        park_id: Some(p.park.clone()),
        due_on: due.into(),
    }
}

pub fn issuing(p: &Province) -> proto::IssueAnnualTasksRequest {
    proto::IssueAnnualTasksRequest {
        header: header("2025-01-10T02:00:00Z"),
        authority_id: p.board.clone(),
        year: 2025,
        issued_on: "2025-01-10".into(),
        document_no: "15/KH-BQL".into(),
        tasks: vec![
            task(
                p,
                "T-01",
                "Keep the central wastewater plant's automatic monitoring connected",
                "2025-06-30",
            ),
            task(
                p,
                "T-02",
                "Inventory tenants' hazardous-waste stores",
                "2025-09-30",
            ),
        ],
    }
}

pub async fn issue(server: &TestServer, p: &Province) -> String {
    plans(server)
        .issue_annual_tasks(issuing(p))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id
}

fn progress(plan: &str, task: &str, percent: u32, when: &str) -> proto::ReportTaskProgressRequest {
    proto::ReportTaskProgressRequest {
        header: header(when),
        plan_id: plan.to_owned(),
        task_id: task.into(),
        percent,
        note: String::new(),
        quarter: 0,
    }
}

pub fn complete(plan: &str, task: &str, when: &str) -> proto::CompleteTaskRequest {
    proto::CompleteTaskRequest {
        header: header(when),
        plan_id: plan.to_owned(),
        task_id: task.into(),
        completed_on: String::new(),
        note: String::new(),
    }
}

#[tokio::test]
async fn the_years_tasks_are_issued_progressed_and_completed_and_a_late_one_is_named() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let id = issue(&server, &p).await;
    let mut plans = plans(&server);
    plans
        .report_task_progress(progress(&id, "T-01", 40, "2025-03-31T02:00:00Z"))
        .await
        .unwrap();
    plans
        .report_task_progress(progress(&id, "T-02", 20, "2025-06-30T02:00:00Z"))
        .await
        .unwrap();
    let on_time = plans
        .complete_task(complete(&id, "T-01", "2025-06-30T09:00:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert!(
        on_time.breaches.is_empty(),
        "16:00 on 30 June in Vietnam is on time"
    );
    // 2025-09-30T17:30Z is already 1 October in Vietnam.
    let late = plans
        .complete_task(complete(&id, "T-02", "2025-09-30T17:30:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert_eq!(late.breaches.len(), 1);
    assert_eq!(late.breaches[0].limit, "task_completed_late");
    crate::breaches::assert_registered(&server, &late).await;

    let got = plans
        .get_annual_plan(proto::GetAnnualPlanRequest { plan_id: id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.version, 5);
    assert_eq!(got.year, 2025);
    let done: Vec<(&str, u32, &str)> = got
        .tasks
        .iter()
        .map(|t| {
            (
                t.task.as_ref().unwrap().task_id.as_str(),
                t.percent,
                t.completed_on.as_str(),
            )
        })
        .collect();
    assert_eq!(
        done,
        [("T-01", 100, "2025-06-30"), ("T-02", 100, "2025-10-01")]
    );
}

#[tokio::test]
async fn progress_never_goes_back_and_nothing_follows_a_completion() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let id = issue(&server, &p).await;
    let mut plans = plans(&server);
    plans
        .report_task_progress(progress(&id, "T-01", 60, "2025-03-31T02:00:00Z"))
        .await
        .unwrap();
    let before = server.read_log().await.len();
    let status = plans
        .report_task_progress(progress(&id, "T-01", 50, "2025-04-30T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["PROGRESS_DECREASES"]);
    let status = plans
        .report_task_progress(progress(&id, "T-99", 50, "2025-04-30T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["UNKNOWN_TASK"]);
    assert_eq!(server.read_log().await.len(), before);

    plans
        .complete_task(complete(&id, "T-01", "2025-05-30T02:00:00Z"))
        .await
        .unwrap();
    let status = plans
        .complete_task(complete(&id, "T-01", "2025-05-31T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["TASK_ALREADY_COMPLETED"]);
    let status = plans
        .report_task_progress(progress(&id, "T-01", 100, "2025-05-31T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["TASK_ALREADY_COMPLETED"]);
}

#[tokio::test]
async fn a_plan_with_duplicate_task_ids_or_bad_fields_is_invalid() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut request = issuing(&p);
    request.tasks[1].task_id = "T-01".into();
    let status = plans(&server)
        .issue_annual_tasks(request)
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["tasks.task_id"]);

    let mut request = issuing(&p);
    request.tasks[0].due_on = "30/06/2025".into();
    request.tasks[1].assignee_company_id = "nobody".into();
    let status = plans(&server)
        .issue_annual_tasks(request)
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        vec!["tasks[0].due_on", "tasks[1].assignee_company_id"]
    );
    let mut request = issuing(&p);
    request.issued_on = "2025-01-09".into();
    let status = plans(&server)
        .issue_annual_tasks(request)
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), vec!["issued_on"]);
    assert_eq!(server.read_log().await.len() as u64, p.last_position);
}

#[tokio::test]
async fn the_plan_is_on_the_timelines_of_the_companies_and_parks_its_tasks_assign() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let outcome = plans(&server)
        .issue_annual_tasks(issuing(&p))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let mut audit = server.audit();
    for (subject_type, subject_id) in [
        (proto::SubjectType::Company, &p.company),
        (proto::SubjectType::Park, &p.park),
        (proto::SubjectType::Authority, &p.board),
    ] {
        let page = audit
            .get_timeline(proto::GetTimelineRequest {
                subject_type: subject_type as i32,
                subject_id: subject_id.clone(),
                min_position: outcome.last_position,
                event_types: vec!["AnnualTasksIssued".into()],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.entries.len(), 1, "{subject_type:?}");
        assert_eq!(page.entries[0].aggregate_id, outcome.aggregate_id);
    }
}

/// The coordination regulation of 11 April 2025 sets day 10 of the month after a quarter for the
/// quarterly report. The 2025 plan (issued 10 January) owes reports on T-01 (due 30 June) for Q1 and
/// Q2, and on T-02 (due 30 September) for Q1 to Q3. Q1 ended before the regulation took effect, so
/// no day is set and nothing is judged; T-01's Q2 report on 10 July is on time, T-02's on 11 July a
/// day late (a second report on Q2 answers for nothing); T-02's Q3 report, due 10 October, is not
/// filed by the 20th.
async fn quarterly_reports_are_judged_against_the_agreements_due_day(server: TestServer) {
    let p = seed(&server).await;
    crate::agreement::sign(&server, &p).await;
    let plan = issue(&server, &p).await;
    let mut c = plans(&server);
    let mut last_position = 0;
    let quarterly =
        |task: &str, percent: u32, quarter: u32, when: &str| proto::ReportTaskProgressRequest {
            quarter,
            ..progress(&plan, task, percent, when)
        };
    for (task, percent, quarter, when, expected) in [
        ("T-01", 20, 1, "2025-04-20T02:00:00Z", vec![]),
        ("T-01", 60, 2, "2025-07-10T02:00:00Z", vec![]),
        (
            "T-02",
            30,
            2,
            "2025-07-11T02:00:00Z",
            vec!["quarterly_report_late"],
        ),
        ("T-02", 35, 2, "2025-07-12T02:00:00Z", vec![]),
    ] {
        let outcome = c
            .report_task_progress(quarterly(task, percent, quarter, when))
            .await
            .unwrap()
            .into_inner()
            .outcome
            .unwrap();
        last_position = outcome.last_position;
        let named: Vec<&str> = outcome.breaches.iter().map(|b| b.limit.as_str()).collect();
        assert_eq!(named, expected, "{task} Q{quarter} on {when}");
        if !expected.is_empty() {
            assert!(
                outcome.breaches[0].detail.contains("due on 2025-07-10"),
                "{outcome:?}"
            );
            crate::breaches::assert_registered(&server, &outcome).await;
        }
    }
    // A report on a quarter that has not begun cannot be; a fifth quarter is no quarter.
    let before = server.read_log().await.len();
    let early = c
        .report_task_progress(quarterly("T-02", 40, 4, "2025-07-13T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&early), ["BUSINESS_TIME_GOES_BACK"]);
    let fifth = c
        .report_task_progress(quarterly("T-02", 40, 5, "2025-07-13T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&fifth), ["quarter"]);
    assert_eq!(server.read_log().await.len(), before);

    let got = c
        .get_annual_plan(proto::GetAnnualPlanRequest {
            plan_id: plan.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let reported: Vec<Vec<u32>> = got
        .tasks
        .iter()
        .map(|t| t.quarters_reported.clone())
        .collect();
    assert_eq!(reported, [vec![1, 2], vec![2]]);

    let rows = crate::breaches::register(
        &server,
        proto::ListBreachesRequest {
            from_date: "2025-01-01".into(),
            to_date: "2025-12-31".into(),
            as_of: Some(crate::harness::ts("2025-10-20T00:00:00Z")),
            min_position: last_position,
            limits: vec![
                "quarterly_report_late".into(),
                "quarterly_report_overdue".into(),
            ],
            ..Default::default()
        },
    )
    .await;
    let registered: Vec<(&str, &str, &str, i32)> = rows
        .iter()
        .map(|r| {
            (
                r.due_on.as_str(),
                r.item_id.as_str(),
                r.breach.as_ref().unwrap().limit.as_str(),
                r.status,
            )
        })
        .collect();
    assert_eq!(
        registered,
        [
            (
                "2025-07-10",
                "T-02:Q2",
                "quarterly_report_late",
                proto::BreachStatus::Late as i32
            ),
            (
                "2025-10-10",
                "T-02:Q3",
                "quarterly_report_overdue",
                proto::BreachStatus::Overdue as i32
            ),
        ]
    );
}

crate::harness::on_both_backends!(quarterly_reports_are_judged_against_the_agreements_due_day);
