//! Audit questions 4, 6, 8, 9 and 10 end to end: a history of three Bình Dương parks driven through
//! the real server (Đồng An, VSIP I and Mỹ Phước 3 with their companies; the province's Board
//! succeeded by the city's on 28 July 2025 and two parks re-assigned; agreements with their own answer
//! days, an amendment and a replacement; consultations, one found suitable for an excluded industry;
//! information requests answered on time, late and never; annual reports on time, late and missing;
//! dossiers), then asked through `AuditQueryService` and checked against answers computed by hand.
//!
//! The same story runs on SQLite and on PostgreSQL (where the elected process runs the projectors).

use crate::harness::Channel;
use kcn_services::proto;
use kcn_services::proto::audit_query_service_client::AuditQueryServiceClient;
use tonic::Code;

use crate::agreement::{agreements, levels};
use crate::consultation::consultations;
use crate::harness::{Province, TestServer, at, header, seed, ts, violated_fields};
use crate::procedure::procedures;
use crate::succession::{establish_boards, merge_and_reassign};

/// Unwraps a command's outcome.
macro_rules! done {
    ($call:expr) => {
        $call.await.unwrap().into_inner().outcome.unwrap()
    };
}

fn queries(server: &TestServer) -> AuditQueryServiceClient<Channel> {
    AuditQueryServiceClient::new(server.channel.clone())
}

fn vsic(code: &str) -> proto::VsicCode {
    proto::VsicCode {
        code: code.into(),
        version: "2018".into(),
    }
}

fn authority(id: &str) -> Option<proto::OrganisationRef> {
    Some(proto::OrganisationRef {
        kind: proto::OrganisationKind::Authority as i32,
        id: id.to_owned(),
    })
}

fn company(id: &str) -> Option<proto::OrganisationRef> {
    Some(proto::OrganisationRef {
        kind: proto::OrganisationKind::InfrastructureCompany as i32,
        id: id.to_owned(),
    })
}

/// Everything the story created, by role.
pub(crate) struct World {
    /// The seeded Board (Bình Dương), company (Hưng Thịnh), park (Đồng An) and tenant (T1).
    p: Province,
    city: String,
    vsip: String,
    vsip_company: String,
    mp3: String,
    becamex: String,
    t2: String,
    t3: String,
    ag1: String,
    ag2: String,
    ag3: String,
    /// E1 to E9 (E6 and E7 are never late).
    e: Vec<String>,
    /// K1 to K5.
    k: Vec<String>,
    last_position: u64,
}

async fn register_park(
    server: &TestServer,
    board: &str,
    code: &str,
    name: &str,
    area: &str,
    company: (&str, &str, &str),
    company_from: &str,
) -> (String, String) {
    let mut reg = server.registry();
    let c = done!(reg.register_company(proto::RegisterCompanyRequest {
        header: header("2025-04-01T03:00:00Z"),
        enterprise_code: company.0.into(),
        name: company.1.into(),
        address: company.2.into(),
    }))
    .aggregate_id;
    let park = done!(reg.register_park(proto::RegisterParkRequest {
        header: header("2025-04-01T03:10:00Z"),
        code: code.into(),
        name: name.into(),
        area_ha: area.into(),
        location: format!("{}, Bình Dương", company.2),
    }))
    .aggregate_id;
    reg.assign_jurisdiction(proto::AssignJurisdictionRequest {
        header: header("2025-04-01T03:20:00Z"),
        park_id: park.clone(),
        authority_id: board.to_owned(),
        effective_from: "2006-01-01".into(),
    })
    .await
    .unwrap();
    reg.assign_infrastructure_company(proto::AssignInfrastructureCompanyRequest {
        header: header("2025-04-01T03:30:00Z"),
        park_id: park.clone(),
        company_id: c.clone(),
        effective_from: company_from.into(),
    })
    .await
    .unwrap();
    (park, c)
}

async fn register_tenant(server: &TestServer, park: &str, when: &str, name: &str) -> String {
    done!(
        server
            .registry()
            .register_tenant(proto::RegisterTenantRequest {
                header: header(when),
                park_id: park.to_owned(),
                enterprise_code: "3702999888".into(),
                name: name.into(),
                investment_registration_no: "5544332211".into(),
                vsic_codes: vec![vsic("2610")],
                foreign_invested: true,
            })
    )
    .aggregate_id
}

fn signing(
    board: &str,
    companies: &[&str],
    version: &str,
    when: &str,
    effective_from: &str,
    answer_days: u32,
) -> proto::SignAgreementRequest {
    proto::SignAgreementRequest {
        header: header(when),
        authority_id: board.to_owned(),
        company_ids: companies.iter().map(|c| (*c).to_owned()).collect(),
        version: version.into(),
        title: "Quy chế phối hợp bảo vệ môi trường tại các khu công nghiệp".into(),
        document_no: format!("{version}/QCPH"),
        signed_on: String::new(),
        effective_from: effective_from.into(),
        document_sha256: "1f".repeat(32),
        service_levels: Some(levels(2, answer_days)),
    }
}

async fn request(
    server: &TestServer,
    when: &str,
    from: Option<proto::OrganisationRef>,
    to: Option<proto::OrganisationRef>,
    park: &str,
    due_at: Option<&str>,
) -> String {
    done!(
        server
            .exchanges()
            .request_information(proto::RequestInformationRequest {
                header: header(when),
                from,
                to,
                park_id: park.to_owned(),
                subject: "Central wastewater plant capacity and monitoring connection".into(),
                body: "Please report capacity (m³/day), load and monitoring connection.".into(),
                due_at: due_at.map(ts),
            })
    )
    .aggregate_id
}

async fn answer(server: &TestServer, id: &str, when: &str) -> u64 {
    done!(
        server
            .exchanges()
            .provide_information(proto::ProvideInformationRequest {
                header: header(when),
                exchange_id: id.to_owned(),
                body: "Report attached.".into(),
                attachments: vec![],
            })
    )
    .last_position
}

async fn open(
    server: &TestServer,
    park: &str,
    company: &str,
    code: &str,
    level: proto::PollutionLevel,
    when: &str,
) -> String {
    done!(
        consultations(server).open_consultation(proto::OpenConsultationRequest {
            header: header(when),
            park_id: park.to_owned(),
            company_id: company.to_owned(),
            prospective_investor: format!("Investor in {code}"),
            project: "A new factory".into(),
            vsic_code: Some(vsic(code)),
            pollution_level: level as i32,
            capacity: Some(proto::Capacity {
                value: "12000".into(),
                unit: "tonnes/year".into(),
            }),
        })
    )
    .aggregate_id
}

async fn determine(server: &TestServer, id: &str, d: proto::Suitability, when: &str) -> u64 {
    let conditions = if d == proto::Suitability::Conditional {
        vec!["pre-treat wastewater to column B".to_owned()]
    } else {
        vec![]
    };
    done!(
        consultations(server).determine_suitability(proto::DetermineSuitabilityRequest {
            header: header(when),
            consultation_id: id.to_owned(),
            determination: d as i32,
            conditions,
            rationale: "Determined against the park's planning and environmental rules.".into(),
            legal_basis: "Nghị định 35/2022/NĐ-CP".into(),
            decided_on: String::new(),
            document_no: "245/BQL-MT".into(),
        })
    )
    .last_position
}

async fn dossier(
    server: &TestServer,
    p: &Province,
    board: &str,
    code: &str,
    received: &str,
    decided: Option<&str>,
) -> u64 {
    let mut procs = procedures(server);
    let outcome = done!(procs.receive_dossier(proto::ReceiveDossierRequest {
        header: header(received),
        procedure_code: code.into(),
        authority_id: board.to_owned(),
        tenant_id: p.tenant.clone(),
        park_id: p.park.clone(),
        dossier_no: String::new(),
        received_on: String::new(),
        promised_days: Some(15),
    }));
    match decided {
        None => outcome.last_position,
        Some(when) => {
            done!(procs.decide_dossier(proto::DecideDossierRequest {
                header: header(when),
                dossier_id: outcome.aggregate_id,
                outcome: proto::DossierOutcome::Approved as i32,
                decided_on: String::new(),
                decision_no: "377/QĐ-BQL".into(),
                note: String::new(),
            }))
            .last_position
        }
    }
}

/// Drives the whole story through the server.
pub(crate) async fn story(server: &TestServer) -> World {
    let p = seed(server).await;
    let boards = establish_boards(server).await;
    let (vsip, vsip_company) = register_park(
        server,
        &p.board,
        "VSIP-1",
        "KCN Việt Nam - Singapore",
        "500",
        (
            "3700229744",
            "Công ty TNHH Liên doanh KCN Việt Nam - Singapore",
            "Thuận An",
        ),
        "1996-05-14",
    )
    .await;
    let (mp3, becamex) = register_park(
        server,
        &p.board,
        "MYPHUOC-3",
        "KCN Mỹ Phước 3",
        "997.71",
        ("3700145020", "Tổng Công ty Becamex IDC", "Bến Cát"),
        "2006-08-31",
    )
    .await;
    let t2 = register_tenant(
        server,
        &vsip,
        "2025-05-10T03:00:00Z",
        "Công ty TNHH Điện tử Sao Việt",
    )
    .await;
    let t3 = register_tenant(
        server,
        &mp3,
        "2025-06-01T03:00:00Z",
        "Công ty TNHH Bao bì Phú Mỹ",
    )
    .await;

    // AG1: the Board with Hưng Thịnh and VSIP, 7 days to answer from 11 April; 5 from 1 June.
    let mut a = agreements(server);
    let ag1 = done!(a.sign_agreement(signing(
        &p.board,
        &[p.company.as_str(), vsip_company.as_str()],
        "2025",
        "2025-04-11T02:00:00Z",
        "",
        7
    )))
    .aggregate_id;
    a.amend_agreement(proto::AmendAgreementRequest {
        header: header("2025-05-20T02:00:00Z"),
        agreement_id: ag1.clone(),
        amendment_no: "01/2025/SĐ".into(),
        service_levels: Some(levels(2, 5)),
        effective_from: "2025-06-01".into(),
        document_sha256: String::new(),
        reason: "faster answers".into(),
    })
    .await
    .unwrap();

    // E7, 5 April, before any agreement applied: it can never be late.
    let e7 = request(
        server,
        "2025-04-05T02:00:00Z",
        authority(&p.board),
        company(&p.company),
        &p.park,
        None,
    )
    .await;
    // E8, 20 April to Becamex, no due_at: its agreement (AG2, effective 15 April) is recorded only
    // afterwards, and the request is judged again then: due 30 April, never answered.
    let e8 = request(
        server,
        "2025-04-20T02:00:00Z",
        authority(&p.board),
        company(&becamex),
        &mp3,
        None,
    )
    .await;
    let ag2 = done!(a.sign_agreement(signing(
        &p.board,
        &[becamex.as_str()],
        "2025-BCM",
        "2025-04-15T02:00:00Z",
        "",
        10
    )))
    .aggregate_id;
    // E1: due 10 May 10:00Z, answered 12 May 03:00Z: two local days late.
    let e1 = request(
        server,
        "2025-05-01T02:00:00Z",
        authority(&p.board),
        company(&p.company),
        &p.park,
        Some("2025-05-10T10:00:00Z"),
    )
    .await;
    answer(server, &e1, "2025-05-12T03:00:00Z").await;
    // E2: 2 May + 7 = 9 May; answered 9 May 16:30Z (23:30 local): on time; the clarification and the
    // second answer afterwards change nothing.
    let e2 = request(
        server,
        "2025-05-02T01:00:00Z",
        authority(&p.board),
        company(&p.company),
        &p.park,
        None,
    )
    .await;
    answer(server, &e2, "2025-05-09T16:30:00Z").await;
    server
        .exchanges()
        .request_clarification(proto::RequestClarificationRequest {
            header: header("2025-05-12T02:00:00Z"),
            exchange_id: e2.clone(),
            question: "Which month is the load figure for?".into(),
        })
        .await
        .unwrap();
    answer(server, &e2, "2025-05-13T02:00:00Z").await;
    // E9: Board to Board about VSIP I: the company is the park's. 20 May + 7 = 27 May; answered 28 May.
    let e9 = request(
        server,
        "2025-05-20T02:00:00Z",
        authority(&p.board),
        authority(&boards.vung_tau),
        &vsip,
        None,
    )
    .await;
    answer(server, &e9, "2025-05-28T03:00:00Z").await;
    // E3: VSIP asks the Board on 3 June: AG1 as amended, 5 days: 8 June; answered 9 June 01:00Z.
    let e3 = request(
        server,
        "2025-06-03T03:00:00Z",
        company(&vsip_company),
        authority(&p.board),
        &vsip,
        None,
    )
    .await;
    answer(server, &e3, "2025-06-09T01:00:00Z").await;
    // E6: due 20 June, withdrawn unanswered on 25 June.
    let e6 = request(
        server,
        "2025-06-10T02:00:00Z",
        authority(&p.board),
        company(&vsip_company),
        &vsip,
        Some("2025-06-20T10:00:00Z"),
    )
    .await;
    server
        .exchanges()
        .withdraw_exchange(proto::WithdrawExchangeRequest {
            header: header("2025-06-25T02:00:00Z"),
            exchange_id: e6.clone(),
            reason: "no longer needed".into(),
        })
        .await
        .unwrap();
    // E4: to Becamex on 1 July: AG2's 10 days: 11 July; never answered.
    let e4 = request(
        server,
        "2025-07-01T02:00:00Z",
        authority(&p.board),
        company(&becamex),
        &mp3,
        None,
    )
    .await;

    // The merger: Đồng An (by the shared helper) and VSIP I move to the city's Board from 28 July;
    // Mỹ Phước 3 is not re-assigned in this story.
    merge_and_reassign(server, &p, &boards).await;
    server
        .registry()
        .assign_jurisdiction(proto::AssignJurisdictionRequest {
            header: header("2025-07-28T04:10:00Z"),
            park_id: vsip.clone(),
            authority_id: boards.city.clone(),
            effective_from: "2025-07-28".into(),
        })
        .await
        .unwrap();
    // E5: the city's Board on 5 August; its own regulation starts 1 September, so AG1 (inherited, 5
    // days) applies: 10 August; answered 11 August 02:00Z.
    let e5 = request(
        server,
        "2025-08-05T02:00:00Z",
        authority(&boards.city),
        company(&p.company),
        &p.park,
        None,
    )
    .await;
    answer(server, &e5, "2025-08-11T02:00:00Z").await;
    // AG3: the city's regulation with Hưng Thịnh and VSIP, 3 days, from 1 September; it replaces AG1.
    let ag3 = done!(a.sign_agreement(signing(
        &boards.city,
        &[p.company.as_str(), vsip_company.as_str()],
        "2025-HCM",
        "2025-08-20T02:00:00Z",
        "2025-09-01",
        3
    )))
    .aggregate_id;
    a.supersede_agreement(proto::SupersedeAgreementRequest {
        header: header("2025-08-20T03:00:00Z"),
        agreement_id: ag1.clone(),
        by: ag3.clone(),
        effective_from: "2025-09-01".into(),
    })
    .await
    .unwrap();

    // Consultations. Đồng An's rules from 1 January 2025: wood, metal, electronics; not chemicals
    // (20); up to level II.
    let mut reg = server.registry();
    reg.set_park_industry_rules(proto::SetParkIndustryRulesRequest {
        header: header("2025-08-21T02:00:00Z"),
        park_id: p.park.clone(),
        allowed_vsic_codes: vec![vsic("16"), vsic("25"), vsic("26")],
        excluded_vsic_codes: vec![vsic("20")],
        highest_pollution_level: proto::PollutionLevel::Ii as i32,
        effective_from: "2025-01-01".into(),
        legal_basis: "Quy hoạch chi tiết KCN Đồng An".into(),
    })
    .await
    .unwrap();
    use proto::PollutionLevel::{I, Ii, Iii};
    use proto::Suitability::{Conditional, Suitable, Unsuitable};
    // K1: sawmill, 2 → 12 May: 10 days. K2: paints (2023, excluded by 20), opened 5 May 09:00Z,
    // suitable on 20 May 18:00Z = 21 May local: 16 days, flagged. K3: metal at level I, unsuitable
    // after 8 days: not flagged. K4: electronics at level I, conditional after 17 days: flagged
    // (I exceeds II). K5: food (1079) at VSIP I, suitable after 10 days while VSIP had no rules;
    // rules recorded afterwards, effective 1 June, exclude 10: flagged on re-judging.
    let k1 = open(
        server,
        &p.park,
        &p.company,
        "1610",
        Ii,
        "2025-05-02T02:00:00Z",
    )
    .await;
    determine(server, &k1, Conditional, "2025-05-12T03:00:00Z").await;
    let k2 = open(
        server,
        &p.park,
        &p.company,
        "2023",
        Ii,
        "2025-05-05T09:00:00Z",
    )
    .await;
    determine(server, &k2, Suitable, "2025-05-20T18:00:00Z").await;
    let k3 = open(
        server,
        &p.park,
        &p.company,
        "2592",
        I,
        "2025-06-02T02:00:00Z",
    )
    .await;
    determine(server, &k3, Unsuitable, "2025-06-10T02:00:00Z").await;
    let k4 = open(
        server,
        &p.park,
        &p.company,
        "2610",
        I,
        "2025-06-03T02:00:00Z",
    )
    .await;
    determine(server, &k4, Conditional, "2025-06-20T02:00:00Z").await;
    let k5 = open(
        server,
        &vsip,
        &vsip_company,
        "1079",
        Iii,
        "2025-06-05T02:00:00Z",
    )
    .await;
    determine(server, &k5, Suitable, "2025-06-15T02:00:00Z").await;
    reg.set_park_industry_rules(proto::SetParkIndustryRulesRequest {
        header: header("2025-08-22T02:00:00Z"),
        park_id: vsip.clone(),
        allowed_vsic_codes: vec![],
        excluded_vsic_codes: vec![vsic("10")],
        highest_pollution_level: Ii as i32,
        effective_from: "2025-06-01".into(),
        legal_basis: String::new(),
    })
    .await
    .unwrap();

    // Dossiers of two procedures, counted in working days. 1.004227 before 1 July: 5 (7 April is Giỗ
    // Tổ Hùng Vương), 4, 9; after: received 30 June 18:00Z (1 July local) and decided Saturday 5
    // July: 3; then 3, 4 (2 September is Quốc khánh), 4; one undecided.
    for (received, decided) in [
        ("2025-04-07T02:00:00Z", Some("2025-04-14T02:00:00Z")),
        ("2025-05-05T02:00:00Z", Some("2025-05-10T02:00:00Z")),
        ("2025-06-02T02:00:00Z", Some("2025-06-14T02:00:00Z")),
        ("2025-06-30T18:00:00Z", Some("2025-07-05T02:00:00Z")),
        ("2025-08-04T02:00:00Z", Some("2025-08-07T02:00:00Z")),
        ("2025-09-02T02:00:00Z", Some("2025-09-08T02:00:00Z")),
        ("2025-09-15T02:00:00Z", Some("2025-09-19T02:00:00Z")),
        ("2025-09-20T02:00:00Z", None),
    ] {
        // The city's Board receives what comes after the merger.
        let board = if received < "2025-07-28" {
            &p.board
        } else {
            &boards.city
        };
        dossier(server, &p, board, "1.004227", received, decided).await;
    }
    // 2.000584 before 1 July: 11 working days, and 5 (1–2 May are holidays).
    dossier(
        server,
        &p,
        &p.board,
        "2.000584",
        "2025-04-10T02:00:00Z",
        Some("2025-04-25T02:00:00Z"),
    )
    .await;
    dossier(
        server,
        &p,
        &p.board,
        "2.000584",
        "2025-05-01T02:00:00Z",
        Some("2025-05-11T02:00:00Z"),
    )
    .await;

    // Annual reports for 2025, filed in January 2026.
    server.clock.set(at("2026-02-15T03:00:00Z"));
    let mut reg = server.registry();
    let tenant_report = |tenant: &str, when: &str| proto::SubmitAnnualEnvironmentalReportRequest {
        header: header(when),
        tenant_id: tenant.to_owned(),
        year: 2025,
        submitted_on: String::new(),
    };
    let park_report =
        |park: &str, company: &str, when: &str| proto::SubmitParkAnnualEnvironmentalReportRequest {
            header: header(when),
            park_id: park.to_owned(),
            year: 2025,
            company_id: company.to_owned(),
            submitted_on: String::new(),
            document_sha256: "4d".repeat(32),
        };
    // T1 on 14 January: on time. T2 at 15 January 20:00Z, 16 January local: one day late (and the
    // command names the breach). T3 never files.
    done!(reg.submit_annual_environmental_report(tenant_report(&p.tenant, "2026-01-14T03:00:00Z")));
    let late =
        done!(reg.submit_annual_environmental_report(tenant_report(&t2, "2026-01-15T20:00:00Z")));
    assert_eq!(late.breaches[0].limit, "tenant_annual_report_late");
    crate::breaches::assert_registered(server, &late).await;
    // Đồng An on 20 January 09:00Z (16:00 local): on time. VSIP on 3 February: 14 days late. Mỹ
    // Phước 3 never files.
    done!(reg.submit_park_annual_environmental_report(park_report(
        &p.park,
        &p.company,
        "2026-01-20T09:00:00Z"
    )));
    let last = done!(reg.submit_park_annual_environmental_report(park_report(
        &vsip,
        &vsip_company,
        "2026-02-03T02:00:00Z"
    )));

    World {
        city: boards.city,
        vsip,
        vsip_company,
        mp3,
        becamex,
        t2,
        t3,
        ag1,
        ag2,
        ag3,
        e: vec![e1, e2, e3, e4, e5, e6, e7, e8, e9],
        k: vec![k1, k2, k3, k4, k5],
        last_position: last.last_position,
        p,
    }
}

async fn check_responsibility(server: &TestServer, w: &World) {
    let mut q = queries(server);
    let ask = |park: &str, date: &str| proto::GetParkResponsibilityRequest {
        park_id: park.to_owned(),
        date: date.into(),
        min_position: w.last_position,
    };
    // Đồng An on 15 May 2025: the Board since 2006, Hưng Thịnh since 1996, AG1 with 7 days.
    let r = q
        .get_park_responsibility(ask(&w.p.park, "2025-05-15"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.park_code, "DONGAN-1");
    assert_eq!(
        r.assigned_authority.as_ref().unwrap().authority_id,
        w.p.board
    );
    assert_eq!(r.assigned_from, "2006-01-01");
    assert!(r.successions.is_empty());
    // As known on 15 May, the Board had not been succeeded yet.
    assert_eq!(r.responsible_authority.as_ref().unwrap().successor_id, "");
    assert_eq!(r.company.as_ref().unwrap().company_id, w.p.company);
    assert_eq!(r.company_assigned_from, "1996-11-14");
    let ag = r.agreement.unwrap();
    assert_eq!(
        (ag.agreement_id.as_str(), ag.inherited),
        (w.ag1.as_str(), false)
    );
    assert_eq!(ag.service_levels.unwrap().information_answer_days, 7);
    assert_eq!(ag.levels_effective_from, "2025-04-11");

    // On 10 August: the city's Board (since 28 July), AG1 inherited from the Board it succeeded, with
    // the amendment's 5 days.
    let r = q
        .get_park_responsibility(ask(&w.p.park, "2025-08-10"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.assigned_authority.as_ref().unwrap().authority_id, w.city);
    assert_eq!(r.assigned_from, "2025-07-28");
    let ag = r.agreement.unwrap();
    assert_eq!(
        (ag.agreement_id.as_str(), ag.inherited),
        (w.ag1.as_str(), true)
    );
    assert_eq!(
        (ag.amendment_no.as_str(), ag.levels_effective_from.as_str()),
        ("01/2025/SĐ", "2025-06-01")
    );
    assert_eq!(ag.service_levels.unwrap().information_answer_days, 5);
    assert_eq!(
        (ag.superseded_by.as_str(), ag.superseded_from.as_str()),
        (w.ag3.as_str(), "2025-09-01")
    );

    // On 15 September: the city's own regulation, 3 days.
    let r = q
        .get_park_responsibility(ask(&w.p.park, "2025-09-15"))
        .await
        .unwrap()
        .into_inner();
    let ag = r.agreement.unwrap();
    assert_eq!(
        (ag.agreement_id.as_str(), ag.inherited),
        (w.ag3.as_str(), false)
    );
    assert_eq!(ag.service_levels.unwrap().information_answer_days, 3);

    // Mỹ Phước 3 on 10 August: still assigned to the Bình Dương Board, which had ceased on 28 July;
    // the city's Board succeeded it, on the recorded legal basis, and AG2 governs Becamex.
    let r = q
        .get_park_responsibility(ask(&w.mp3, "2025-08-10"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.assigned_authority.as_ref().unwrap().authority_id,
        w.p.board
    );
    assert_eq!(r.successions.len(), 1);
    let s = &r.successions[0];
    assert_eq!(
        (
            s.authority_id.as_str(),
            s.successor_id.as_str(),
            s.succeeded_on.as_str()
        ),
        (w.p.board.as_str(), w.city.as_str(), "2025-07-28")
    );
    assert_eq!(
        s.succession_legal_basis,
        "Quyết định của UBND Thành phố Hồ Chí Minh về hợp nhất các Ban quản lý"
    );
    let resp = r.responsible_authority.unwrap();
    assert_eq!(resp.authority_id, w.city);
    assert_eq!(
        resp.kind,
        proto::AuthorityKind::ExportProcessingAndIndustrialZonesBoard as i32
    );
    assert_eq!(r.company.unwrap().company_id, w.becamex);
    let ag = r.agreement.unwrap();
    assert_eq!(
        (ag.agreement_id.as_str(), ag.inherited),
        (w.ag2.as_str(), true)
    );

    // An unknown park is NOT_FOUND; a malformed id or date names its field.
    let status = q
        .get_park_responsibility(ask(&uuid::Uuid::now_v7().to_string(), "2025-08-10"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = q
        .get_park_responsibility(proto::GetParkResponsibilityRequest {
            park_id: "DONGAN-1".into(),
            date: "10/08/2025".into(),
            min_position: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["park_id", "date"]);
}

async fn check_exchanges(server: &TestServer, w: &World) {
    let mut q = queries(server);
    let e = |i: usize| w.e[i - 1].clone();
    let list = |company: &str, year: u32, page_token: String, page_size: u32| {
        proto::ListLateInformationRequestsRequest {
            company_id: company.to_owned(),
            year,
            park_id: String::new(),
            as_of: Some(ts("2025-10-01T00:00:00Z")),
            page_size,
            page_token,
            min_position: w.last_position,
        }
    };
    let ids = |r: &proto::ListLateInformationRequestsResponse| {
        r.requests
            .iter()
            .map(|x| x.exchange_id.clone())
            .collect::<Vec<_>>()
    };

    // Hưng Thịnh in 2025 as of 1 October: E1 (its own due_at) and E5 (inherited AG1).
    let r = q
        .list_late_information_requests(list(&w.p.company, 2025, String::new(), 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&r), [e(1), e(5)]);
    let e1 = &r.requests[0];
    assert_eq!(e1.due_source, proto::InformationDueSource::Request as i32);
    assert_eq!(e1.lateness, proto::InformationLateness::AnsweredLate as i32);
    // Due 10 May (17:00 local), answered 12 May local: 2 days.
    assert_eq!((e1.due_on.as_str(), e1.days_late), ("2025-05-10", 2));
    let e5 = &r.requests[1];
    // 5 August + 5 days = 10 August; answered 11 August: 1 day.
    assert_eq!(e5.due_source, proto::InformationDueSource::Agreement as i32);
    assert_eq!(
        (
            e5.agreement_id.as_str(),
            e5.answer_days,
            e5.due_on.as_str(),
            e5.days_late
        ),
        (w.ag1.as_str(), 5, "2025-08-10", 1)
    );
    assert_eq!(e5.authority_id, w.city);
    assert_eq!(e5.late_from, Some(ts("2025-08-10T17:00:00Z")));
    assert_eq!(r.as_of, Some(ts("2025-10-01T00:00:00Z")));

    // VSIP: E9 (company from the park; 27 May, 1 day) and E3 (amended 5 days; 8 June, 1 day).
    let r = q
        .list_late_information_requests(list(&w.vsip_company, 0, String::new(), 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&r), [e(9), e(3)]);
    assert_eq!((r.requests[0].answer_days, r.requests[0].days_late), (7, 1));
    assert_eq!(
        (r.requests[1].answer_days, r.requests[1].due_on.as_str()),
        (5, "2025-06-08")
    );

    // Becamex: E8, judged when AG2 was recorded after it: 20 April + 10 = 30 April, open: 31 + 30 +
    // 31 + 31 + 30 + 1 = 154 days to 1 October; E4: 11 July, 20 + 31 + 31 + 20 = 82 days.
    let r = q
        .list_late_information_requests(list(&w.becamex, 2025, String::new(), 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&r), [e(8), e(4)]);
    let days: Vec<(i32, &str, i64)> = r
        .requests
        .iter()
        .map(|x| (x.lateness, x.due_on.as_str(), x.days_late))
        .collect();
    let open = proto::InformationLateness::OpenPastDue as i32;
    assert_eq!(days, [(open, "2025-04-30", 154), (open, "2025-07-11", 82)]);

    // Everyone in 2025, in request order, in pages of 4: E8, E1, E9, E3 | E4, E5.
    let first = q
        .list_late_information_requests(list("", 2025, String::new(), 4))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&first), [e(8), e(1), e(9), e(3)]);
    let second = q
        .list_late_information_requests(list("", 2025, first.next_page_token.clone(), 4))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&second), [e(4), e(5)]);
    assert!(second.next_page_token.is_empty());
    // A page token belongs to its query.
    let status = q
        .list_late_information_requests(list(&w.p.company, 2025, first.next_page_token, 4))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["page_token"]);

    // Without as_of the server's clock (15 February 2026) judges: E4 is then 15 Feb 2026 − 11 July
    // 2025 = 20 + 31 + 30 + 31 + 30 + 31 + 31 + 15 = 219 days late.
    let r = q
        .list_late_information_requests(proto::ListLateInformationRequestsRequest {
            as_of: None,
            ..list(&w.becamex, 2025, String::new(), 0)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.as_of, Some(ts("2026-02-15T03:00:00Z")));
    assert_eq!(r.requests[1].days_late, 219);
}

async fn check_consultations(server: &TestServer, w: &World) {
    let mut q = queries(server);
    let k = |i: usize| w.k[i - 1].clone();
    let ask =
        |park: &str, code: Option<&str>, only_flagged: bool| proto::ListConsultationsRequest {
            park_id: park.to_owned(),
            vsic_code: code.map(vsic),
            determination: 0,
            only_flagged,
            page_size: 0,
            page_token: String::new(),
            min_position: w.last_position,
        };
    let ids = |r: &proto::ListConsultationsResponse| {
        r.consultations
            .iter()
            .map(|c| c.consultation_id.clone())
            .collect::<Vec<_>>()
    };

    let r = q
        .list_consultations(ask(&w.p.park, None, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&r), [k(1), k(2), k(3), k(4)]);
    let days: Vec<Option<i64>> = r.consultations.iter().map(|c| c.days_to_decision).collect();
    assert_eq!(days, [Some(10), Some(16), Some(8), Some(17)]);
    let flags: Vec<bool> = r.consultations.iter().map(|c| c.flagged).collect();
    assert_eq!(flags, [false, true, false, true]);
    let k2 = &r.consultations[1];
    assert_eq!(k2.excluded_by, Some(vsic("20")));
    assert_eq!(
        (k2.opened_on.as_str(), k2.decided_on.as_str()),
        ("2025-05-05", "2025-05-21")
    );
    assert_eq!(k2.determination, proto::Suitability::Suitable as i32);
    assert_eq!(k2.rules_effective_from, "2025-01-01");
    let k3 = &r.consultations[2];
    assert!(k3.pollution_level_exceeds && !k3.flagged);
    assert_eq!(
        k3.highest_pollution_level_allowed,
        proto::PollutionLevel::Ii as i32
    );

    // The excluded industry by its code, and every flagged determination (K5 re-judged).
    let r = q
        .list_consultations(ask("", Some("20"), false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&r), [k(2)]);
    let r = q
        .list_consultations(ask("", None, true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&r), [k(2), k(4), k(5)]);
    assert_eq!(r.consultations[2].excluded_by, Some(vsic("10")));
    assert_eq!(r.consultations[2].park_id, w.vsip);

    // A malformed code names its field.
    let status = q
        .list_consultations(ask("", Some("2a"), false))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["vsic_code"]);
}

async fn check_annual_reports(server: &TestServer, w: &World) {
    let mut q = queries(server);
    let ask = |filer: proto::AnnualReportFiler, page_size: u32, page_token: String| {
        proto::ListLateAnnualReportsRequest {
            year: 2025,
            filer: filer as i32,
            park_id: String::new(),
            as_of_date: String::new(),
            page_size,
            page_token,
            min_position: w.last_position,
        }
    };
    // As of today by the server's clock (15 February 2026). Parks: VSIP filed 3 February, 14 days
    // late; Mỹ Phước 3 never: 15 Feb − 20 Jan = 26 days, owed by Becamex.
    let r = q
        .list_late_annual_reports(ask(proto::AnnualReportFiler::Park, 0, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.as_of_date, "2026-02-15");
    let rows: Vec<(&str, i32, i64, &str)> = r
        .reports
        .iter()
        .map(|x| {
            (
                x.subject_id.as_str(),
                x.lateness,
                x.days_late,
                x.company_id.as_str(),
            )
        })
        .collect();
    let filed_late = proto::AnnualReportLateness::FiledLate as i32;
    let not_filed = proto::AnnualReportLateness::NotFiled as i32;
    let mut expected = vec![
        (w.vsip.as_str(), filed_late, 14, w.vsip_company.as_str()),
        (w.mp3.as_str(), not_filed, 26, w.becamex.as_str()),
    ];
    expected.sort();
    assert_eq!(rows, expected);

    // Tenants: T2 at 15 January 20:00Z = 16 January: 1 day; T3 never: 15 Feb − 15 Jan = 31 days.
    let r = q
        .list_late_annual_reports(ask(proto::AnnualReportFiler::Tenant, 0, String::new()))
        .await
        .unwrap()
        .into_inner();
    let rows: Vec<(&str, i32, i64, &str)> = r
        .reports
        .iter()
        .map(|x| {
            (
                x.subject_id.as_str(),
                x.lateness,
                x.days_late,
                x.due_on.as_str(),
            )
        })
        .collect();
    let mut expected = vec![
        (w.t2.as_str(), filed_late, 1, "2026-01-15"),
        (w.t3.as_str(), not_filed, 31, "2026-01-15"),
    ];
    expected.sort();
    assert_eq!(rows, expected);

    // Both, in pages of 3: parks first, then tenants.
    let first = q
        .list_late_annual_reports(ask(proto::AnnualReportFiler::Unspecified, 3, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.reports.len(), 3);
    let second = q
        .list_late_annual_reports(ask(
            proto::AnnualReportFiler::Unspecified,
            3,
            first.next_page_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.reports.len(), 1);
    assert!(second.next_page_token.is_empty());
    let filers: Vec<i32> = first
        .reports
        .iter()
        .chain(&second.reports)
        .map(|x| x.filer)
        .collect();
    let (park, tenant) = (
        proto::AnnualReportFiler::Park as i32,
        proto::AnnualReportFiler::Tenant as i32,
    );
    assert_eq!(filers, [park, park, tenant, tenant]);

    // As of 16 January: T2's late report and T3's missing one (tenants are due the 15th), no park yet
    // (due the 20th); as of 15 January nothing at all.
    let r = q
        .list_late_annual_reports(proto::ListLateAnnualReportsRequest {
            as_of_date: "2026-01-16".into(),
            ..ask(proto::AnnualReportFiler::Unspecified, 0, String::new())
        })
        .await
        .unwrap()
        .into_inner();
    let rows: Vec<(&str, i32)> = r
        .reports
        .iter()
        .map(|x| (x.subject_id.as_str(), x.lateness))
        .collect();
    let mut expected = vec![(w.t2.as_str(), filed_late), (w.t3.as_str(), not_filed)];
    expected.sort();
    assert_eq!(rows, expected);
    let r = q
        .list_late_annual_reports(proto::ListLateAnnualReportsRequest {
            as_of_date: "2026-01-15".into(),
            ..ask(proto::AnnualReportFiler::Unspecified, 0, String::new())
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.reports.is_empty());

    // The year is required.
    let status = q
        .list_late_annual_reports(proto::ListLateAnnualReportsRequest {
            year: 0,
            ..ask(proto::AnnualReportFiler::Unspecified, 0, String::new())
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["year"]);
}

async fn check_procedures(server: &TestServer, w: &World) {
    let mut q = queries(server);
    let ask = |code: &str, page_size: u32, page_token: String| {
        proto::GetProcedureProcessingTimesRequest {
            split_date: "2025-07-01".into(),
            procedure_code: code.into(),
            page_size,
            page_token,
            min_position: w.last_position,
        }
    };
    let r = q
        .get_procedure_processing_times(ask("", 0, String::new()))
        .await
        .unwrap()
        .into_inner();
    let codes: Vec<&str> = r
        .procedures
        .iter()
        .map(|p| p.procedure_code.as_str())
        .collect();
    assert_eq!(codes, ["1.004227", "2.000584"]);
    let a = &r.procedures[0];
    let (before, after) = (a.before.as_ref().unwrap(), a.after.as_ref().unwrap());
    // Before: 5, 4, 9 → 5. After: 3, 3, 4, 4 → 3.5 (the undecided dossier counts nowhere).
    assert_eq!(
        (
            before.decided_count,
            before.median_days.as_str(),
            before.min_days,
            before.max_days
        ),
        (3, "5", Some(4), Some(9))
    );
    assert_eq!(
        (
            after.decided_count,
            after.median_days.as_str(),
            after.min_days,
            after.max_days
        ),
        (4, "3.5", Some(3), Some(4))
    );
    let b = &r.procedures[1];
    // 11 and 5 → 8; nothing after.
    assert_eq!(b.before.as_ref().unwrap().median_days, "8");
    assert_eq!(
        (
            b.after.as_ref().unwrap().decided_count,
            b.after.as_ref().unwrap().median_days.as_str()
        ),
        (0, "")
    );

    // One code per page.
    let first = q
        .get_procedure_processing_times(ask("", 1, String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.procedures[0].procedure_code, "1.004227");
    let second = q
        .get_procedure_processing_times(ask("", 1, first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.procedures[0].procedure_code, "2.000584");
    assert!(second.next_page_token.is_empty());
    // The split date is required.
    let status = q
        .get_procedure_processing_times(proto::GetProcedureProcessingTimesRequest {
            split_date: String::new(),
            ..ask("", 0, String::new())
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["split_date"]);
}

async fn the_whole_story(server: &TestServer) {
    let w = story(server).await;
    check_responsibility(server, &w).await;
    check_exchanges(server, &w).await;
    check_consultations(server, &w).await;
    check_annual_reports(server, &w).await;
    check_procedures(server, &w).await;
    // Each of the five read models has its own checkpoint, at the head of the story and without error.
    let statuses = server
        .audit()
        .get_projection_status(proto::GetProjectionStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .projections;
    for name in [
        "consultations",
        "exchanges",
        "responsibility",
        "annual_reports",
        "procedures",
    ] {
        let s = statuses
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no status for {name}"));
        assert_eq!(
            (s.error.as_str(), s.position >= w.last_position),
            ("", true),
            "{name}"
        );
    }
}

#[tokio::test]
async fn registry_questions_are_answered_as_computed_by_hand_on_sqlite() {
    let server = TestServer::start().await;
    the_whole_story(&server).await;
}

#[tokio::test]
async fn registry_questions_are_answered_as_computed_by_hand_on_postgres() {
    let Some(server) = TestServer::start_postgres(
        "registry_questions_are_answered_as_computed_by_hand_on_postgres",
    )
    .await
    else {
        return;
    };
    the_whole_story(&server).await;
}
