//! The key end-to-end scenarios again, on PostgreSQL: a fresh database per test (`kcn_test_<uuid>`
//! on the server of `KCN_TEST_DATABASE_URL`, dropped at the end). Without that variable these tests
//! fail, unless `KCN_TEST_SKIP_POSTGRES=1`, which skips them with a printed note.

use std::io::Write as _;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use kcn_ledger::config::DatabaseUrl;
use kcn_services::proto;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _};
use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::{TestServer, header, header_with_id, seed, ts};

/// A PostgreSQL database of one test, dropped when the last handle goes (even after a panic).
#[derive(Debug)]
pub struct PgTestDatabase {
    server_url: String,
    name: String,
}

/// Writes past the test harness's output capture, so that a skip is never silent.
fn note(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "note: {message}");
}

/// The URL of database `name` on the server of `server_url`: the same URL with its path replaced.
pub fn database_url(server_url: &str, name: &str) -> String {
    let (scheme, rest) = server_url
        .split_once("://")
        .expect("KCN_TEST_DATABASE_URL must look like postgres://user@host:port/database");
    let (main, query) = match rest.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (rest, None),
    };
    let authority = main.split_once('/').map_or(main, |(a, _)| a);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

async fn admin(server_url: &str) -> PgConnection {
    PgConnectOptions::from_str(server_url)
        .expect("KCN_TEST_DATABASE_URL is not a valid postgres URL")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to KCN_TEST_DATABASE_URL: {e}"))
}

impl PgTestDatabase {
    /// Creates a fresh database, or returns `None` when PostgreSQL is deliberately skipped.
    pub async fn create(test: &str) -> Option<Arc<Self>> {
        let server_url = match std::env::var("KCN_TEST_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ if std::env::var("KCN_TEST_SKIP_POSTGRES").as_deref() == Ok("1") => {
                note(&format!(
                    "skipping {test} on PostgreSQL: KCN_TEST_DATABASE_URL is unset and \
                     KCN_TEST_SKIP_POSTGRES=1"
                ));
                return None;
            }
            _ => panic!(
                "KCN_TEST_DATABASE_URL is not set: the PostgreSQL end-to-end tests need a server URL \
                 whose user may create databases (for example \
                 postgres://postgres@127.0.0.1:5432/postgres); set KCN_TEST_SKIP_POSTGRES=1 to skip \
                 them deliberately"
            ),
        };
        let name = format!("kcn_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = admin(&server_url).await;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let _ = conn.close().await;
        Some(Arc::new(Self { server_url, name }))
    }

    /// The database's URL, for the server's configuration.
    pub fn url(&self) -> DatabaseUrl {
        DatabaseUrl::new(database_url(&self.server_url, &self.name))
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        // A `Drop` cannot await, and the test's runtime may be unwinding: a thread of its own.
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = admin(&server_url).await;
                // FORCE ends the sessions of a server the test did not stop.
                sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            note(&format!("could not drop the test database {}", self.name));
        }
    }
}

/// Starts a server on a fresh PostgreSQL database, or returns from the test when PostgreSQL is
/// deliberately skipped.
macro_rules! postgres_server {
    ($test:expr) => {
        match TestServer::start_postgres($test).await {
            Some(server) => server,
            None => return,
        }
    };
}

fn company(request_id: &str, name: &str) -> proto::RegisterCompanyRequest {
    proto::RegisterCompanyRequest {
        header: header_with_id("2025-04-01T02:10:00.123456789Z", request_id),
        enterprise_code: "3700146225".into(),
        name: name.into(),
        address: String::new(),
    }
}

fn board_to_company(board: &str, company: &str, park: &str) -> proto::RequestInformationRequest {
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

#[tokio::test]
async fn on_postgres_a_registered_province_reads_back_and_replays_byte_for_byte_after_a_restart() {
    let server = postgres_server!("registry");
    let p = seed(&server).await;
    assert_eq!(p.last_position, 6);
    let park = server
        .registry()
        .get_park(proto::GetParkRequest {
            park_id: p.park.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(park.version, 3);
    assert_eq!(park.registration.unwrap().area_ha, "138.7");
    assert_eq!(park.jurisdictions[0].id, p.board);
    assert_eq!(park.infrastructure_companies[0].id, p.company);
    let tenant = server
        .registry()
        .get_tenant(proto::GetTenantRequest {
            tenant_id: p.tenant.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tenant.registration.unwrap().park_id, p.park);

    let log = server.read_log().await;
    let positions: Vec<u64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=6).collect::<Vec<_>>());
    assert_eq!(
        String::from_utf8(log[2].payload.clone()).unwrap(),
        r#"{"code":"DONGAN-1","name":"KCN Đồng An","area_ha":"138.7","location":"Thuận An, Bình Dương"}"#
    );
    let again = server.restart().await;
    assert_eq!(again.read_log().await, log, "byte for byte after a restart");
}

#[tokio::test]
async fn on_postgres_a_full_exchange_is_requested_answered_clarified_and_closed() {
    let server = postgres_server!("information exchange");
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
        body: "5,000 m³/day, running at 62%.".into(),
        attachments: vec![],
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

    // A refused command leaves no trace on PostgreSQL either.
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
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn on_postgres_a_retried_request_returns_the_first_outcome_even_after_a_restart() {
    let server = postgres_server!("idempotency");
    let mut reg = server.registry();
    let first = reg
        .register_company(company("retry-1", "Becamex IDC"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let second = reg
        .register_company(company("retry-1", "Becamex IDC"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert!(!first.replayed && second.replayed);
    assert_eq!(second.event_ids, first.event_ids);
    let status = reg
        .register_company(company("retry-1", "Another company"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "REQUEST_ID_REUSED"
    );
    assert_eq!(server.read_log().await.len(), 1);

    let again = server.restart().await;
    let third = again
        .registry()
        .register_company(company("retry-1", "Becamex IDC"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    assert!(third.replayed);
    assert_eq!(third.aggregate_id, first.aggregate_id);
    assert_eq!(again.read_log().await.len(), 1);
}

#[tokio::test]
async fn on_postgres_a_stale_expected_version_is_aborted_and_appends_nothing() {
    let server = postgres_server!("version conflict");
    let p = seed(&server).await;
    let change = |expected: u64| {
        let mut h = header("2025-06-01T00:00:00Z");
        h.as_mut().unwrap().expected_version = Some(expected);
        proto::ChangeCompanyDetailsRequest {
            header: h,
            company_id: p.company.clone(),
            name: Some(format!("Hưng Thịnh v{expected}")),
            address: None,
        }
    };
    let mut reg = server.registry();
    reg.change_company_details(change(1)).await.unwrap();
    let before = server.read_log().await.len();
    let status = reg.change_company_details(change(1)).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "VERSION_CONFLICT");
    assert_eq!(info.metadata["actual_version"], "2");
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn on_postgres_the_park_timeline_reads_its_writes_and_status_reports_no_lag() {
    let server = postgres_server!("timeline");
    let p = seed(&server).await;
    let answered = {
        let mut x = server.exchanges();
        let opened = x
            .request_information(board_to_company(&p.board, &p.company, &p.park))
            .await
            .unwrap()
            .into_inner()
            .outcome
            .unwrap();
        x.provide_information(proto::ProvideInformationRequest {
            header: header("2025-05-03T02:00:00Z"),
            exchange_id: opened.aggregate_id,
            body: "93.77%".into(),
            attachments: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
    };
    let timeline = |page_token: String, page_size: u32| proto::GetTimelineRequest {
        subject_type: proto::SubjectType::Park as i32,
        subject_id: p.park.clone(),
        page_size,
        page_token,
        min_position: answered.last_position,
        ..Default::default()
    };
    let mut audit = server.audit();
    let all = audit
        .get_timeline(timeline(String::new(), 0))
        .await
        .unwrap()
        .into_inner();
    let types: Vec<&str> = all.entries.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "ParkRegistered",
            "JurisdictionAssigned",
            "InfrastructureCompanyAssigned",
            "TenantRegistered",
            "InformationRequested",
            "InformationProvided"
        ]
    );
    // Pages of two walk the same entries: the page token's order is the database's order.
    let mut token = String::new();
    let mut paged = Vec::new();
    loop {
        let page = audit
            .get_timeline(timeline(token, 2))
            .await
            .unwrap()
            .into_inner();
        paged.extend(page.entries.into_iter().map(|e| e.position));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        paged,
        all.entries.iter().map(|e| e.position).collect::<Vec<_>>()
    );
    let filtered = audit
        .get_timeline(proto::GetTimelineRequest {
            event_types: vec!["InformationProvided".into()],
            from_time: Some(ts("2025-05-02T00:00:00Z")),
            ..timeline(String::new(), 10)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filtered.entries.len(), 1);

    let status = audit
        .get_projection_status(proto::GetProjectionStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let timeline_status = &status.projections[0];
    assert_eq!(timeline_status.name, "timeline");
    assert_eq!(timeline_status.position, answered.last_position);
    assert_eq!(timeline_status.lag, 0);
    assert!(timeline_status.error.is_empty());

    let status = tokio::time::timeout(
        Duration::from_secs(10),
        audit.get_timeline(proto::GetTimelineRequest {
            min_position: 1_000,
            ..timeline(String::new(), 10)
        }),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
}

#[tokio::test]
async fn on_postgres_concurrent_commands_get_gap_free_positions_and_are_projected_once() {
    let server = postgres_server!("concurrency");
    let mut tasks = Vec::new();
    for i in 0..100 {
        let mut reg = server.registry();
        tasks.push(tokio::spawn(async move {
            reg.register_company(company(&format!("c-{i}"), &format!("Company {i}")))
                .await
                .unwrap()
                .into_inner()
                .outcome
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().aggregate_id);
    }
    let positions: Vec<u64> = server.read_log().await.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=100).collect::<Vec<_>>());
    // Every company's registration is on its timeline exactly once.
    let mut audit = server.audit();
    for id in ids {
        let page = audit
            .get_timeline(proto::GetTimelineRequest {
                subject_type: proto::SubjectType::Company as i32,
                subject_id: id,
                min_position: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.entries.len(), 1);
    }
}
