//! Industry consultations through the real server: KCN Đồng An sets its industry rules; the company
//! consults the Board on a wood-processing investor (VSIC 2018 code 1610, level II of Annex II of
//! Decree 08/2022), the Board determines it suitable with conditions, and the consultation is linked
//! to the tenant it brought in. Industries are taken from the province's profile (industries.csv).

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::industry_consultation_service_client::IndustryConsultationServiceClient;

use crate::harness::{Province, TestServer, header, precondition_types, seed, violated_fields};

pub fn consultations(server: &TestServer) -> IndustryConsultationServiceClient<Channel> {
    IndustryConsultationServiceClient::new(server.channel.clone())
}

fn vsic(code: &str) -> proto::VsicCode {
    proto::VsicCode {
        code: code.into(),
        version: "2018".into(),
    }
}

/// Wood processing and furniture (VSIC 16, 31; 1610 sawmilling), 13% of tenants by estimate.
pub fn opening(p: &Province, when: &str) -> proto::OpenConsultationRequest {
    proto::OpenConsultationRequest {
        header: header(when),
        park_id: p.park.clone(),
        company_id: p.company.clone(),
        prospective_investor: "Công ty TNHH Chế biến gỗ Phú Thịnh".into(),
        project: "Sawmill and furniture components".into(),
        vsic_code: Some(vsic("1610")),
        pollution_level: proto::PollutionLevel::Ii as i32,
        capacity: Some(proto::Capacity {
            value: "12000".into(),
            unit: "m3 of sawn wood per year".into(),
        }),
    }
}

pub async fn open(server: &TestServer, p: &Province, when: &str) -> String {
    consultations(server)
        .open_consultation(opening(p, when))
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id
}

pub fn determining(
    id: &str,
    d: proto::Suitability,
    conditions: &[&str],
    when: &str,
) -> proto::DetermineSuitabilityRequest {
    proto::DetermineSuitabilityRequest {
        header: header(when),
        consultation_id: id.to_owned(),
        determination: d as i32,
        conditions: conditions.iter().map(|c| (*c).to_owned()).collect(),
        rationale:
            "Wood processing is an admitted industry of the park; dust and VOC from finishing \
                    lines need controls."
                .into(),
        legal_basis: "Nghị định 35/2022/NĐ-CP; Nghị định 08/2022/NĐ-CP Phụ lục II".into(),
        decided_on: String::new(),
        document_no: "245/BQL-MT".into(),
    }
}

#[tokio::test]
async fn a_consultation_is_opened_determined_with_conditions_and_linked_to_its_tenant() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let mut reg = server.registry();
    reg.set_park_industry_rules(proto::SetParkIndustryRulesRequest {
        header: header("2025-04-20T02:00:00Z"),
        park_id: p.park.clone(),
        // Wood, fabricated metal, electronics; not chemicals (paints, detergents).
        allowed_vsic_codes: vec![vsic("16"), vsic("25"), vsic("26")],
        excluded_vsic_codes: vec![vsic("20")],
        highest_pollution_level: proto::PollutionLevel::Ii as i32,
        effective_from: "2025-05-01".into(),
        legal_basis: "Quyết định phê duyệt quy hoạch chi tiết KCN Đồng An".into(),
    })
    .await
    .unwrap();

    let id = open(&server, &p, "2025-05-02T02:00:00Z").await;
    let mut c = consultations(&server);
    c.submit_company_opinion(proto::SubmitCompanyOpinionRequest {
        header: header("2025-05-03T02:00:00Z"),
        consultation_id: id.clone(),
        opinion: "The company supports the project; the central plant has 1,900 m³/day spare."
            .into(),
        attachments: vec![proto::Attachment {
            name: "investor-profile.pdf".into(),
            sha256: "2a".repeat(32),
        }],
    })
    .await
    .unwrap();
    c.determine_suitability(determining(
        &id,
        proto::Suitability::Conditional,
        &[
            "Connect to the central wastewater plant before operation",
            "Bag filters on sanding lines",
        ],
        "2025-05-12T03:00:00Z",
    ))
    .await
    .unwrap();
    let tenant = reg
        .register_tenant(proto::RegisterTenantRequest {
            header: header("2025-06-01T02:00:00Z"),
            park_id: p.park.clone(),
            enterprise_code: "3703456789".into(),
            name: "Công ty TNHH Chế biến gỗ Phú Thịnh".into(),
            investment_registration_no: "1234567890".into(),
            vsic_codes: vec![vsic("1610")],
            foreign_invested: false,
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    c.link_consultation_to_tenant(proto::LinkConsultationToTenantRequest {
        header: header("2025-06-01T03:00:00Z"),
        consultation_id: id.clone(),
        tenant_id: tenant.clone(),
    })
    .await
    .unwrap();

    let got = c
        .get_consultation(proto::GetConsultationRequest {
            consultation_id: id,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status, proto::ConsultationStatus::Linked as i32);
    assert_eq!(got.tenant_id, tenant);
    let determination = got.determination.unwrap();
    assert_eq!(determination.decided_on, "2025-05-12");
    assert_eq!(determination.conditions.len(), 2);
    assert_eq!(got.opened.unwrap().vsic_code.unwrap().version, "2018");

    // The stored payload names the code with its version and the level by its proto name, and the
    // event records the Board as the authority with jurisdiction over the park.
    let log = server.read_log().await;
    let opened = log
        .iter()
        .find(|e| e.event_type == "ConsultationOpened")
        .unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&opened.payload).unwrap();
    assert_eq!(
        payload["vsic_code"],
        serde_json::json!({"code": "1610", "version": "2018"})
    );
    assert_eq!(payload["pollution_level"], "POLLUTION_LEVEL_II");
    assert_eq!(payload["capacity"]["value"], "12000");
    let metadata: serde_json::Value = serde_json::from_slice(&opened.metadata).unwrap();
    assert_eq!(metadata["acting_authority_id"], p.board.as_str());
    let rules = server
        .registry()
        .get_park(proto::GetParkRequest { park_id: p.park })
        .await
        .unwrap()
        .into_inner()
        .industry_rules;
    assert_eq!(rules[0].excluded_vsic_codes[0].code, "20");
}

#[tokio::test]
async fn a_withdrawn_consultation_cannot_be_determined() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let id = open(&server, &p, "2025-05-02T02:00:00Z").await;
    let mut c = consultations(&server);
    c.withdraw_consultation(proto::WithdrawConsultationRequest {
        header: header("2025-05-05T02:00:00Z"),
        consultation_id: id.clone(),
        reason: "the investor chose a park in Đồng Nai".into(),
    })
    .await
    .unwrap();
    let before = server.read_log().await.len();
    let status = c
        .determine_suitability(determining(
            &id,
            proto::Suitability::Suitable,
            &[],
            "2025-05-12T03:00:00Z",
        ))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["CONSULTATION_WITHDRAWN"]);
    assert_eq!(server.read_log().await.len(), before);
}

#[tokio::test]
async fn a_determination_is_made_once_and_a_conditional_one_states_its_conditions() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let id = open(&server, &p, "2025-05-02T02:00:00Z").await;
    let mut c = consultations(&server);
    let status = c
        .determine_suitability(determining(
            &id,
            proto::Suitability::Conditional,
            &[],
            "2025-05-12T03:00:00Z",
        ))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["CONDITIONS_REQUIRED"]);
    c.determine_suitability(determining(
        &id,
        proto::Suitability::Unsuitable,
        &[],
        "2025-05-12T03:00:00Z",
    ))
    .await
    .unwrap();
    let status = c
        .determine_suitability(determining(
            &id,
            proto::Suitability::Suitable,
            &[],
            "2025-05-13T03:00:00Z",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        precondition_types(&status),
        vec!["CONSULTATION_ALREADY_DETERMINED"]
    );
    // An unsuitable industry brings in no tenant.
    let status = c
        .link_consultation_to_tenant(proto::LinkConsultationToTenantRequest {
            header: header("2025-06-01T03:00:00Z"),
            consultation_id: id,
            tenant_id: p.tenant.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["CONSULTATION_UNSUITABLE"]);
}

#[tokio::test]
async fn a_consultation_is_linked_only_after_a_favourable_determination_to_a_known_tenant() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let id = open(&server, &p, "2025-05-02T02:00:00Z").await;
    let mut c = consultations(&server);
    let link = |tenant: &str, when: &str| proto::LinkConsultationToTenantRequest {
        header: header(when),
        consultation_id: id.clone(),
        tenant_id: tenant.to_owned(),
    };
    let status = c
        .link_consultation_to_tenant(link(&p.tenant, "2025-05-03T02:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(
        precondition_types(&status),
        vec!["CONSULTATION_NOT_DETERMINED"]
    );
    c.determine_suitability(determining(
        &id,
        proto::Suitability::Suitable,
        &[],
        "2025-05-12T03:00:00Z",
    ))
    .await
    .unwrap();
    let status = c
        .link_consultation_to_tenant(link(
            &uuid::Uuid::now_v7().to_string(),
            "2025-05-13T02:00:00Z",
        ))
        .await
        .unwrap_err();
    assert_eq!(precondition_types(&status), vec!["UNKNOWN_REFERENCE"]);
}

#[tokio::test]
async fn a_malformed_vsic_code_or_an_unspecified_pollution_level_is_invalid() {
    let server = TestServer::start().await;
    let p = seed(&server).await;
    let status = consultations(&server)
        .open_consultation(proto::OpenConsultationRequest {
            vsic_code: Some(proto::VsicCode {
                code: "16100".into(),
                version: "2030".into(),
            }),
            pollution_level: proto::PollutionLevel::Unspecified as i32,
            capacity: Some(proto::Capacity {
                value: "1.2e4".into(),
                unit: "tonnes/year".into(),
            }),
            ..opening(&p, "2025-05-02T02:00:00Z")
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        vec!["vsic_code", "pollution_level", "capacity.value"]
    );
    assert_eq!(server.read_log().await.len() as u64, p.last_position);
}

/// Question 4 flags a favourable determination for an industry outside the park's allowed list, not
/// only an excluded one: the rules allow wood (16) and name no exclusion; a metal-plating investor
/// (2592) is found suitable, and flagged.
async fn a_suitable_industry_outside_the_allowed_list_is_flagged(server: TestServer) {
    let p = seed(&server).await;
    server
        .registry()
        .set_park_industry_rules(proto::SetParkIndustryRulesRequest {
            header: header("2025-04-20T02:00:00Z"),
            park_id: p.park.clone(),
            allowed_vsic_codes: vec![vsic("16")],
            excluded_vsic_codes: vec![],
            highest_pollution_level: proto::PollutionLevel::I as i32,
            effective_from: "2025-01-01".into(),
            legal_basis: "Quy hoạch chi tiết KCN Đồng An".into(),
        })
        .await
        .unwrap();
    let mut c = consultations(&server);
    let wood = open(&server, &p, "2025-05-02T02:00:00Z").await;
    let mut plating = opening(&p, "2025-05-03T02:00:00Z");
    plating.vsic_code = Some(vsic("2592"));
    plating.project = "Metal plating".into();
    let plating = c
        .open_consultation(plating)
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    let mut last = 0;
    for id in [&wood, &plating] {
        last = c
            .determine_suitability(determining(
                id,
                proto::Suitability::Suitable,
                &[],
                "2025-05-12T02:00:00Z",
            ))
            .await
            .unwrap()
            .into_inner()
            .outcome
            .unwrap()
            .last_position;
    }
    let ask = |only_flagged| proto::ListConsultationsRequest {
        park_id: p.park.clone(),
        only_flagged,
        min_position: last,
        ..Default::default()
    };
    let mut q = kcn_services::proto::audit_query_service_client::AuditQueryServiceClient::new(
        server.channel.clone(),
    );
    let all = q.list_consultations(ask(false)).await.unwrap().into_inner();
    let verdicts: Vec<(bool, bool, bool)> = all
        .consultations
        .iter()
        .map(|k| (k.excluded_by.is_some(), k.outside_allowed, k.flagged))
        .collect();
    assert_eq!(verdicts, [(false, false, false), (false, true, true)]);
    let flagged = q.list_consultations(ask(true)).await.unwrap().into_inner();
    let ids: Vec<&str> = flagged
        .consultations
        .iter()
        .map(|k| k.consultation_id.as_str())
        .collect();
    assert_eq!(ids, [plating.as_str()]);
}

crate::harness::on_both_backends!(a_suitable_industry_outside_the_allowed_list_is_flagged);
