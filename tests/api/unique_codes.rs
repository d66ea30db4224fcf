//! Park codes and enterprise codes are unique, decided in the append transaction: a duplicate is
//! `ALREADY_EXISTS` naming the registration that holds the code, leaves nothing in the log, and of
//! two concurrent registrations of one code exactly one wins.

use kcn_services::proto;
use tonic::Code;

use crate::harness::{TestServer, header, seed};

fn park_request(code: &str, at: &str) -> proto::RegisterParkRequest {
    proto::RegisterParkRequest {
        header: header(at),
        code: code.into(),
        name: format!("KCN {code}"),
        area_ha: "100".into(),
        location: "Bình Dương".into(),
    }
}

fn tenant_request(park_id: &str, enterprise_code: &str) -> proto::RegisterTenantRequest {
    proto::RegisterTenantRequest {
        header: header("2025-04-05T03:00:00Z"),
        park_id: park_id.into(),
        enterprise_code: enterprise_code.into(),
        name: "Công ty TNHH Gỗ Minh Phát".into(),
        investment_registration_no: "9876543210".into(),
        vsic_codes: vec![proto::VsicCode {
            code: "1610".into(),
            version: "2018".into(),
        }],
        foreign_invested: true,
    }
}

/// Asserts `status` is the duplicate-code refusal naming `field`, `code` and the holder.
fn assert_code_taken(status: &tonic::Status, field: &str, code: &str, holder: &str) {
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(
        status.message().contains(holder),
        "the message names the registration that holds the code: {}",
        status.message()
    );
    let info = tonic_types::StatusExt::get_details_error_info(status).expect("ErrorInfo");
    assert_eq!(info.reason, "CODE_TAKEN");
    assert_eq!(info.metadata["field"], field);
    assert_eq!(info.metadata["code"], code);
    assert_eq!(info.metadata["existing_id"], holder);
}

async fn a_park_code_enterprise_code_or_tenant_registers_once(server: TestServer) {
    let p = seed(&server).await;
    let head = server.read_log().await.len();

    // The seeded park is DONGAN-1.
    let status = server
        .registry()
        .register_park(park_request("DONGAN-1", "2025-04-06T02:00:00Z"))
        .await
        .unwrap_err();
    assert_code_taken(&status, "code", "DONGAN-1", &p.park);

    let status = server
        .registry()
        .register_company(proto::RegisterCompanyRequest {
            header: header("2025-04-06T02:10:00Z"),
            enterprise_code: "3700146225".into(),
            name: "Một công ty khác".into(),
            address: String::new(),
        })
        .await
        .unwrap_err();
    assert_code_taken(&status, "enterprise_code", "3700146225", &p.company);

    let status = server
        .registry()
        .register_tenant(tenant_request(&p.park, "3702345678"))
        .await
        .unwrap_err();
    assert_code_taken(
        &status,
        "enterprise_code",
        &format!("{}/3702345678", p.park),
        &p.tenant,
    );
    assert_eq!(
        server.read_log().await.len(),
        head,
        "a refused registration leaves nothing in the log"
    );

    // The same enterprise may be a tenant of another park, and another code registers.
    let other = server
        .registry()
        .register_park(park_request("MYPHUOC-3", "2025-04-06T02:20:00Z"))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    server
        .registry()
        .register_tenant(tenant_request(&other, "3702345678"))
        .await
        .unwrap();
    assert_eq!(server.read_log().await.len(), head + 2);

    // A retry of the accepted registration with its request id is answered as before, not refused.
    let first = park_request("BAUBANG-1", "2025-04-06T02:30:00Z");
    let accepted = server
        .registry()
        .register_park(first.clone())
        .await
        .unwrap()
        .into_inner();
    let again = server
        .registry()
        .register_park(first)
        .await
        .unwrap()
        .into_inner();
    let (accepted, again) = (accepted.outcome.unwrap(), again.outcome.unwrap());
    assert!(again.replayed && !accepted.replayed);
    assert_eq!(accepted.aggregate_id, again.aggregate_id);
    assert_eq!(accepted.event_ids, again.event_ids);
}

async fn of_two_concurrent_registrations_of_one_code_exactly_one_wins(server: TestServer) {
    seed(&server).await;
    let head = server.read_log().await.len();
    let tries = (0..8).map(|i| {
        let mut registry = server.registry();
        async move {
            registry
                .register_park(park_request("VSIP-2", &format!("2025-04-06T02:0{i}:00Z")))
                .await
        }
    });
    let results = futures::future::join_all(tries).await;
    let won: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.get_ref().outcome.clone().unwrap().aggregate_id)
        .collect();
    assert_eq!(won.len(), 1, "exactly one registration wins: {results:?}");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_code_taken(refused, "code", "VSIP-2", &won[0]);
    }
    assert_eq!(server.read_log().await.len(), head + 1);
}

crate::harness::on_both_backends!(
    a_park_code_enterprise_code_or_tenant_registers_once,
    of_two_concurrent_registrations_of_one_code_exactly_one_wins,
);

/// A log written before codes were decided in the store: its registrations' codes are claimed at
/// the first start, so a later duplicate is refused naming the first registration.
#[tokio::test]
async fn codes_registered_before_the_store_decided_them_are_claimed_at_start() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let dir = server.stop().await;
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("kcn-ledger.sqlite").display()
    ))
    .await
    .unwrap();
    sqlx::query("DELETE FROM unique_keys")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let server = TestServer::start_in(dir).await;
    let status = server
        .registry()
        .register_park(park_request("DONGAN-1", "2025-04-06T02:00:00Z"))
        .await
        .unwrap_err();
    assert_code_taken(&status, "code", "DONGAN-1", &p.park);
}
