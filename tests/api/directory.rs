//! The directory through the real server: authorities, companies, parks and tenants found by exact
//! code, by name with or without Vietnamese marks, tenants by park, page after page.

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::directory_service_client::DirectoryServiceClient;

use crate::harness::{TestServer, header, seed, violated_fields};

fn directory(server: &TestServer) -> DirectoryServiceClient<Channel> {
    DirectoryServiceClient::new(server.channel.clone())
}

async fn park(server: &TestServer, code: &str, name: &str) -> String {
    server
        .registry()
        .register_park(proto::RegisterParkRequest {
            header: header("2025-04-03T02:00:00Z"),
            code: code.into(),
            name: name.into(),
            area_ha: "100".into(),
            location: "Bình Dương".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id
}

async fn parks(server: &TestServer, query: &str, head: u64) -> Vec<String> {
    directory(server)
        .list_parks(proto::ListParksRequest {
            query: query.into(),
            min_position: head,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .parks
        .into_iter()
        .map(|p| p.code)
        .collect()
}

async fn parks_companies_tenants_and_authorities_are_found_by_code_name_or_park(
    server: TestServer,
) {
    let p = seed(&server).await;
    park(&server, "MYPHUOC-3", "KCN Mỹ Phước 3").await;
    park(&server, "VSIP-1", "KCN Việt Nam - Singapore").await;
    let renamed = server
        .registry()
        .change_company_details(proto::ChangeCompanyDetailsRequest {
            header: header("2025-04-04T02:00:00Z"),
            company_id: p.company.clone(),
            name: Some("Công ty Hưng Thịnh Khu công nghiệp".into()),
            address: None,
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let head = renamed.last_position;

    // By exact code, ignoring case; by name with or without marks; everything in name order.
    assert_eq!(parks(&server, "myphuoc-3", head).await, ["MYPHUOC-3"]);
    assert_eq!(parks(&server, "my phuoc", head).await, ["MYPHUOC-3"]);
    assert_eq!(parks(&server, "Mỹ Phước", head).await, ["MYPHUOC-3"]);
    assert_eq!(parks(&server, "đồng an", head).await, ["DONGAN-1"]);
    assert_eq!(
        parks(&server, "kcn", head).await,
        ["DONGAN-1", "MYPHUOC-3", "VSIP-1"]
    );
    assert!(
        parks(&server, "100%", head).await.is_empty(),
        "% is not a wildcard"
    );

    // A park carries its current authority and company.
    let dong_an = directory(&server)
        .list_parks(proto::ListParksRequest {
            query: "DONGAN-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .parks
        .remove(0);
    assert_eq!(
        (
            dong_an.authority_id.as_str(),
            dong_an.authority_from.as_str()
        ),
        (p.board.as_str(), "2006-01-01")
    );
    assert_eq!(dong_an.company_id, p.company);

    // A company is found by its new name and its enterprise code.
    let companies = |query: &str| {
        let mut d = directory(&server);
        let query = query.to_owned();
        async move {
            d.list_companies(proto::ListCompaniesRequest {
                query,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .companies
        }
    };
    assert_eq!(companies("khu cong nghiep").await[0].company_id, p.company);
    assert_eq!(
        companies("3700146225").await[0].name,
        "Công ty Hưng Thịnh Khu công nghiệp"
    );
    assert!(companies("TM-SX").await.is_empty(), "the old name is gone");

    // Tenants by park and name; authorities by decision number.
    let tenants = directory(&server)
        .list_tenants(proto::ListTenantsRequest {
            park_id: p.park.clone(),
            query: "minh phat".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tenants;
    assert_eq!(tenants.len(), 1);
    assert_eq!(
        (
            tenants[0].tenant_id.as_str(),
            tenants[0].enterprise_code.as_str()
        ),
        (p.tenant.as_str(), "3702345678")
    );
    let authorities = directory(&server)
        .list_authorities(proto::ListAuthoritiesRequest {
            query: "qđ-01/2006".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .authorities;
    assert_eq!(authorities[0].authority_id, p.board);
    assert_eq!(
        authorities[0].kind,
        proto::AuthorityKind::IndustrialParksBoard as i32
    );
}

async fn the_directory_pages_in_name_order_and_refuses_bad_queries(server: TestServer) {
    let p = seed(&server).await;
    let mut head = p.last_position;
    for i in 0..5 {
        let id = park(&server, &format!("PARK-{i}"), &format!("KCN Số {i}")).await;
        assert!(!id.is_empty());
        head += 1;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = directory(&server)
            .list_parks(proto::ListParksRequest {
                query: "kcn".into(),
                page_size: 2,
                page_token: token.clone(),
                min_position: head,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.parks.len() <= 2);
        seen.extend(page.parks.into_iter().map(|p| p.code));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        ["DONGAN-1", "PARK-0", "PARK-1", "PARK-2", "PARK-3", "PARK-4"],
        "KCN Đồng An, then KCN Số 0 … 4: by name without marks"
    );
    let mut d = directory(&server);
    let status = d
        .list_parks(proto::ListParksRequest {
            query: "x".repeat(301),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["query"]);
    let status = d
        .list_tenants(proto::ListTenantsRequest {
            park_id: "not a uuid".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["park_id"]);
    let first = d
        .list_parks(proto::ListParksRequest {
            page_size: 1,
            min_position: head,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let status = d
        .list_companies(proto::ListCompaniesRequest {
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["page_token"],
        "a park token is no company token"
    );
}

crate::harness::on_both_backends!(
    parks_companies_tenants_and_authorities_are_found_by_code_name_or_park,
    the_directory_pages_in_name_order_and_refuses_bad_queries,
);
