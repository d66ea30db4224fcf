//! The extreme-values property test (issue 9): every command, fed values at the ends of their
//! ranges (numbers at their minimum and maximum, lists at their longest, texts at their longest in
//! multi-byte characters, dates and instants at the ends of years 1900 to 9999), is accepted or
//! refused with a clear status, never `INTERNAL` or `UNKNOWN`, and afterwards every read model
//! reaches the log's head. Each service area runs on its own server, so that a read model stopped by
//! one area's values does not hide what another area's values do.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::harness::Channel;
use kcn_domain::values::{DayOfMonth, NotificationHours, ServiceDays, max_chars, max_items};
use kcn_services::proto;
use kcn_services::proto::agreement_service_client::AgreementServiceClient;
use kcn_services::proto::annual_plan_service_client::AnnualPlanServiceClient;
use kcn_services::proto::dissemination_service_client::DisseminationServiceClient;
use kcn_services::proto::incident_service_client::IncidentServiceClient;
use kcn_services::proto::industry_consultation_service_client::IndustryConsultationServiceClient;
use kcn_services::proto::information_exchange_service_client::InformationExchangeServiceClient;
use kcn_services::proto::inspection_service_client::InspectionServiceClient;
use kcn_services::proto::monitoring_service_client::MonitoringServiceClient;
use kcn_services::proto::principal_service_client::PrincipalServiceClient;
use kcn_services::proto::procedure_service_client::ProcedureServiceClient;
use kcn_services::proto::registry_service_client::RegistryServiceClient;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tonic::{Code, Status};

use crate::harness::{TestServer, at, header, ts, wait_until};

/// Cases per command: a few dozen, so that the whole test stays well under a minute.
const CASES: u32 = 24;

/// The store's cap on one event (payload and metadata), which no valid command may reach.
const EVENT_CAP: usize = 256 * 1024;

/// Which end of each range a case takes: one choice per value, consumed in order (low, high), so
/// that proptest shrinks a failing case towards the low ends.
pub(crate) struct Ends {
    bits: Vec<bool>,
    next: Cell<usize>,
    /// The local date of the header's `occurred_at`, once chosen.
    local: Cell<Option<chrono::NaiveDate>>,
    /// Ordinary values instead of extremes: the low ends of every range, an ordinary instant after
    /// the world was set up, and its local date for every date (the scope matrix's requests).
    ordinary: bool,
}

/// The ordinary instant of the cases, after the world was set up.
pub(crate) const ORDINARY_INSTANT: &str = "2025-06-01T00:00:00Z";

impl Ends {
    /// Ordinary values: every request the shortest valid one, dated [`ORDINARY_INSTANT`].
    pub(crate) fn ordinary() -> Self {
        Self {
            bits: vec![false],
            next: Cell::new(0),
            local: Cell::new(None),
            ordinary: true,
        }
    }

    fn high(&self) -> bool {
        if self.ordinary {
            return false;
        }
        let i = self.next.get();
        self.next.set(i + 1);
        self.bits[i % self.bits.len()]
    }

    fn num(&self, min: u32, max: u32) -> u32 {
        if self.high() { max } else { min }
    }

    /// An enum value: the first or the last known one.
    fn variant(&self, last: i32) -> i32 {
        if self.high() { last } else { 1 }
    }

    /// A text of one character or of `max`, in characters of one to four bytes with the ones JSON
    /// escapes, starting and ending with a four-byte one (text is trimmed).
    fn text(&self, max: usize) -> String {
        const ALPHABET: [char; 9] = ['𝔸', 'ệ', '𝔸', '"', '𝔸', '\n', '𝔸', '\\', 'Đ'];
        let len = if self.high() { max } else { 1 };
        let mut s: String = (0..len).map(|i| ALPHABET[i % ALPHABET.len()]).collect();
        if len > 1 {
            s.pop();
            s.push('𝔸');
        }
        s
    }

    fn optional_text(&self, max: usize) -> String {
        if self.high() {
            self.text(max)
        } else {
            String::new()
        }
    }

    fn date(&self) -> String {
        if self.ordinary {
            return self
                .local
                .get()
                .map_or("2025-06-01".into(), |d| d.to_string());
        }
        if self.high() {
            "9999-12-31"
        } else {
            "1900-01-01"
        }
        .into()
    }

    /// Empty, an end of the range, or the local date of `occurred_at` (which act dates must be).
    fn optional_date(&self) -> String {
        match (self.high(), self.high()) {
            (false, _) => String::new(),
            (true, false) => self.date(),
            (true, true) => self.local.get().map(|d| d.to_string()).unwrap_or_default(),
        }
    }

    /// The year of `occurred_at` (a plan is for the year it is issued in or the next), or an end
    /// of the range.
    fn year(&self) -> u32 {
        use chrono::Datelike;
        let local = self.local.get().and_then(|d| u32::try_from(d.year()).ok());
        match (self.high(), local) {
            (false, Some(y)) if (1990..=9998).contains(&y) => y,
            _ => self.num(1990, 9998),
        }
    }

    /// An instant at an end of the range (the last one whose local, UTC+7, date is still in 9999),
    /// one just past it (refused), or an ordinary one after the world was set up.
    fn instant(&self) -> prost_types::Timestamp {
        if self.ordinary {
            return ts(ORDINARY_INSTANT);
        }
        match (self.high(), self.high()) {
            (false, false) => ts("1900-01-01T00:00:00Z"),
            (false, true) => ts("2025-06-01T00:00:00Z"),
            (true, false) => ts("9999-12-31T16:59:59.999999Z"),
            (true, true) => ts("9999-12-31T23:59:59.999999Z"),
        }
    }

    fn optional_instant(&self) -> Option<prost_types::Timestamp> {
        self.high().then(|| self.instant())
    }

    /// A list of `min` or `max` items.
    fn list<T>(&self, min: usize, max: usize, item: impl Fn(usize) -> T) -> Vec<T> {
        let len = if self.high() { max } else { min };
        (0..len).map(item).collect()
    }

    /// One of two: an existing id (or code) of the world, or an extreme of its own.
    fn either(&self, known: &str, other: impl FnOnce() -> String) -> String {
        if self.high() {
            other()
        } else {
            known.to_owned()
        }
    }

    fn sha256(&self) -> String {
        if self.high() { "F" } else { "0" }.repeat(64)
    }

    fn vsic(&self) -> proto::VsicCode {
        let code = match (self.high(), self.high()) {
            (false, false) => "A",
            (false, true) => "U",
            (true, false) => "01",
            (true, true) => "99999",
        };
        proto::VsicCode {
            code: code.into(),
            version: if self.high() { "2018" } else { "2007" }.into(),
        }
    }

    fn decimal(&self, max: &str, scale: usize) -> String {
        if self.high() {
            max.into()
        } else {
            format!("0.{}1", "0".repeat(scale - 1))
        }
    }

    /// A header at the extremes: tokens of 128 characters or none, an instant at an end.
    fn header(&self) -> Option<proto::CommandHeader> {
        let token = |e: &Self| {
            if e.high() {
                "~".repeat(128)
            } else {
                String::new()
            }
        };
        let occurred_at = self.instant();
        let t = chrono::DateTime::from_timestamp(occurred_at.seconds, 0).unwrap();
        self.local.set(Some(kcn_domain::time::local_date(t)));
        let request_id = uuid::Uuid::now_v7().to_string();
        let request_id = if self.high() {
            format!("{request_id:~<128}")
        } else {
            request_id
        };
        Some(proto::CommandHeader {
            request_id,
            occurred_at: Some(occurred_at),
            expected_version: [self.high(), self.high(), self.high()]
                .iter()
                .all(|b| *b)
                .then_some(u64::MAX),
            correlation_id: token(self),
            causation_id: token(self),
            source_system: "~".repeat(128),
            source_message_id: token(self),
        })
    }
}

/// The aggregates every area's commands address, set up with ordinary values.
pub(crate) struct World {
    pub(crate) board: String,
    pub(crate) company: String,
    pub(crate) park: String,
    pub(crate) tenant: String,
    pub(crate) agreement: String,
    /// Another authority, company and agreement, for the commands that need a second one.
    pub(crate) other_board: String,
    pub(crate) other_company: String,
    pub(crate) other_agreement: String,
    /// Authorities merged with `board` in a succession.
    pub(crate) predecessors: Vec<String>,
    pub(crate) plan: String,
    pub(crate) exchange: String,
    pub(crate) consultation: String,
    pub(crate) inspection: String,
    pub(crate) incident: String,
    pub(crate) alert: String,
    pub(crate) dossier: String,
    /// An auditor's principal.
    pub(crate) principal: String,
}

fn id(o: Option<proto::CommandOutcome>) -> String {
    o.unwrap().aggregate_id
}

/// An ordinary header after the world was set up and before the cases' ordinary instant.
fn before() -> Option<proto::CommandHeader> {
    header("2025-05-01T02:00:00Z")
}

/// Takes the world's aggregates to where `command` applies, with ordinary values, so that the
/// extremes reach the read models instead of only the consistency rules.
pub(crate) async fn prepare(server: &TestServer, w: &mut World, command: &str) {
    let c = &server.channel;
    let inspections = || InspectionServiceClient::new(c.clone());
    let ladder: &[&str] = match command {
        "DeliverInspectionDecision" => &["decide"],
        "StartInspection" => &["decide", "deliver"],
        "ExtendInspection" | "RecordFinding" | "ConcludeInspection" => {
            &["decide", "deliver", "start"]
        }
        "RequireRemediation" | "ReferForSanction" => &["decide", "deliver", "start", "find"],
        "VerifyRemediation" => &["decide", "deliver", "start", "find", "remedy"],
        "CloseInspection" => &["decide", "deliver", "start", "conclude"],
        _ => &[],
    };
    for step in ladder {
        let i = w.inspection.clone();
        let answer = match *step {
            "decide" => inspections()
                .issue_inspection_decision(proto::IssueInspectionDecisionRequest {
                    header: before(),
                    inspection_id: i,
                    decision_no: "QĐ-1".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
            "deliver" => inspections()
                .deliver_inspection_decision(proto::DeliverInspectionDecisionRequest {
                    header: before(),
                    inspection_id: i,
                    ..Default::default()
                })
                .await
                .map(drop),
            "start" => inspections()
                .start_inspection(proto::StartInspectionRequest {
                    header: before(),
                    inspection_id: i,
                    ..Default::default()
                })
                .await
                .map(drop),
            "find" => inspections()
                .record_finding(proto::RecordFindingRequest {
                    header: before(),
                    inspection_id: i,
                    finding_id: "F1".into(),
                    tenant_id: w.tenant.clone(),
                    requirement: "Giấy phép".into(),
                    severity: proto::FindingSeverity::Major as i32,
                    description: "Thiếu".into(),
                    commitment_id: String::new(),
                })
                .await
                .map(drop),
            "remedy" => inspections()
                .require_remediation(proto::RequireRemediationRequest {
                    header: before(),
                    inspection_id: i,
                    finding_id: "F1".into(),
                    due_on: "2025-07-01".into(),
                    action: "Bổ sung".into(),
                })
                .await
                .map(drop),
            _ => inspections()
                .conclude_inspection(proto::ConcludeInspectionRequest {
                    header: before(),
                    inspection_id: i,
                    conclusion_no: "KL-1".into(),
                    summary: "Đạt".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
        };
        answer.unwrap_or_else(|s| panic!("preparing {command}: {step}: {s:?}"));
    }
    let answer = match command {
        "RequestClarification" | "CloseExchange" => {
            InformationExchangeServiceClient::new(c.clone())
                .provide_information(proto::ProvideInformationRequest {
                    header: before(),
                    exchange_id: w.exchange.clone(),
                    body: "Số liệu".into(),
                    attachments: vec![],
                })
                .await
                .map(drop)
        }
        "ReviewIncident" => IncidentServiceClient::new(c.clone())
            .resolve_incident(proto::ResolveIncidentRequest {
                header: before(),
                incident_id: w.incident.clone(),
                summary: "Đã xử lý".into(),
            })
            .await
            .map(drop),
        "ReportTransmissionRestored" => MonitoringServiceClient::new(c.clone())
            .report_transmission_interrupted(proto::ReportTransmissionInterruptedRequest {
                header: before(),
                alert_id: w.alert.clone(),
                park_id: w.park.clone(),
                station_id: "ST-1".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "LinkConsultationToTenant" => IndustryConsultationServiceClient::new(c.clone())
            .determine_suitability(proto::DetermineSuitabilityRequest {
                header: before(),
                consultation_id: w.consultation.clone(),
                determination: proto::Suitability::Suitable as i32,
                rationale: "Phù hợp".into(),
                legal_basis: "Nghị định 08/2022".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "RevokeEcoParkCertification" | "CertifyEcoPark" => {
            let mut registry = RegistryServiceClient::new(c.clone());
            registry
                .record_eco_park_evidence(proto::RecordEcoParkEvidenceRequest {
                    header: before(),
                    park_id: w.park.clone(),
                    criterion: "Tái sử dụng nước".into(),
                    value: "30%".into(),
                    document_sha256: "b".repeat(64),
                })
                .await
                .unwrap();
            if command == "CertifyEcoPark" {
                Ok(())
            } else {
                registry
                    .certify_eco_park(proto::CertifyEcoParkRequest {
                        header: before(),
                        park_id: w.park.clone(),
                        certificate_no: "GCN-1".into(),
                        valid_to: "2030-01-01".into(),
                    })
                    .await
                    .map(drop)
            }
        }
        "SupersedeAgreement"
        | "RecordAuthoritySuccession"
        | "AssignJurisdiction"
        | "AssignInfrastructureCompany" => {
            let other = world(server).await;
            w.other_agreement = other.agreement;
            w.other_board = other.board;
            w.other_company = other.company;
            if command == "RecordAuthoritySuccession" {
                for _ in 1..max_items::PREDECESSORS {
                    let more = RegistryServiceClient::new(c.clone())
                        .establish_authority(proto::EstablishAuthorityRequest {
                            header: before(),
                            name: "Ban quản lý".into(),
                            kind: proto::AuthorityKind::IndustrialParksBoard as i32,
                            jurisdiction: "Tỉnh".into(),
                            decision_no: "QĐ-2".into(),
                            effective_from: "2006-01-01".into(),
                        })
                        .await
                        .unwrap()
                        .into_inner()
                        .outcome;
                    w.predecessors.push(id(more));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    };
    answer.unwrap_or_else(|s| panic!("preparing {command}: {s:?}"));
}

pub(crate) async fn world(server: &TestServer) -> World {
    // Each world is a province of its own, with codes of its own (codes are unique).
    static WORLDS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = WORLDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = crate::harness::seed_another(server, n).await;
    let c = server.channel.clone();
    // The agreement every later command is judged against holds the longest service levels, so
    // that the read models compute deadlines from the ends of those ranges too.
    let levels = proto::ServiceLevels {
        incident_notification_hours: NotificationHours::MAX,
        information_answer_days: ServiceDays::MAX,
        infrastructure_information_days: Some(ServiceDays::MAX),
        consultation_answer_days: Some(ServiceDays::MAX),
        quarterly_report_due_day: Some(DayOfMonth::MAX),
    };
    let agreement = AgreementServiceClient::new(c.clone())
        .sign_agreement(proto::SignAgreementRequest {
            header: header("2025-04-10T02:00:00Z"),
            authority_id: p.board.clone(),
            company_ids: vec![p.company.clone()],
            version: "2025".into(),
            title: "Quy chế phối hợp".into(),
            document_sha256: "a".repeat(64),
            service_levels: Some(levels),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .outcome;
    let plan = AnnualPlanServiceClient::new(c.clone())
        .issue_annual_tasks(proto::IssueAnnualTasksRequest {
            header: header("2025-04-10T02:00:00Z"),
            authority_id: p.board.clone(),
            year: 2025,
            tasks: vec![proto::AnnualTask {
                task_id: "T1".into(),
                title: "Báo cáo".into(),
                assignee_company_id: p.company.clone(),
                due_on: "2025-12-31".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .outcome;
    let organisation = |kind: proto::OrganisationKind, id: &str| proto::OrganisationRef {
        kind: kind as i32,
        id: id.to_owned(),
    };
    let exchange = InformationExchangeServiceClient::new(c.clone())
        .request_information(proto::RequestInformationRequest {
            header: header("2025-04-10T02:00:00Z"),
            from: Some(organisation(proto::OrganisationKind::Authority, &p.board)),
            to: Some(organisation(
                proto::OrganisationKind::InfrastructureCompany,
                &p.company,
            )),
            subject: "Số liệu".into(),
            body: "Xin gửi số liệu".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .outcome;
    let consultation = IndustryConsultationServiceClient::new(c.clone())
        .open_consultation(proto::OpenConsultationRequest {
            header: header("2025-04-10T02:00:00Z"),
            park_id: p.park.clone(),
            company_id: p.company.clone(),
            prospective_investor: "Nhà đầu tư".into(),
            vsic_code: Some(proto::VsicCode {
                code: "1610".into(),
                version: "2018".into(),
            }),
            pollution_level: proto::PollutionLevel::Ii as i32,
            capacity: Some(proto::Capacity {
                value: "10".into(),
                unit: "m3".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .outcome;
    let inspection = InspectionServiceClient::new(c.clone())
        .plan_inspection(proto::PlanInspectionRequest {
            header: header("2025-04-10T02:00:00Z"),
            park_id: p.park.clone(),
            tenant_ids: vec![p.tenant.clone()],
            conducted_by: proto::InspectionConductor::Board as i32,
            kind: proto::InspectionKind::Planned as i32,
            planned_for: "2025-05-01".into(),
            scope: "Nước thải".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .outcome;
    let incident = IncidentServiceClient::new(c.clone())
        .report_incident(proto::ReportIncidentRequest {
            header: header("2025-04-10T02:00:00Z"),
            park_id: p.park.clone(),
            kind: proto::IncidentKind::Spill as i32,
            detected_at: Some(ts("2025-04-10T01:00:00Z")),
            location: "Cổng 2".into(),
            description: "Tràn dầu".into(),
            reported_by: Some(organisation(
                proto::OrganisationKind::InfrastructureCompany,
                &p.company,
            )),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .outcome;
    let alert = MonitoringServiceClient::new(c.clone())
        .receive_exceedance(proto::ReceiveExceedanceRequest {
            header: header("2025-04-10T02:00:00Z"),
            park_id: p.park.clone(),
            station_id: "ST-1".into(),
            parameter: proto::MonitoringParameter::Cod as i32,
            value: "182.5".into(),
            unit: "mg/L".into(),
            limit: "150".into(),
            standard_ref: "QCVN 40:2011/BTNMT".into(),
            measured_at: Some(ts("2025-04-10T01:00:00Z")),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .outcome;
    let dossier = ProcedureServiceClient::new(c.clone())
        .receive_dossier(proto::ReceiveDossierRequest {
            header: header("2025-04-10T02:00:00Z"),
            procedure_code: "MT-01".into(),
            authority_id: p.board.clone(),
            tenant_id: p.tenant.clone(),
            park_id: p.park.clone(),
            promised_days: Some(15),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .outcome;
    let principal = PrincipalServiceClient::new(c.clone())
        .issue_principal(proto::IssuePrincipalRequest {
            header: header("2025-04-10T02:00:00Z"),
            name: "Kiểm toán".into(),
            role: proto::Role::Auditor as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .principal_id;
    World {
        board: p.board,
        company: p.company,
        park: p.park,
        tenant: p.tenant,
        agreement: id(agreement),
        other_board: String::new(),
        other_company: String::new(),
        other_agreement: String::new(),
        predecessors: Vec::new(),
        plan: id(plan),
        exchange: id(exchange),
        consultation: id(consultation),
        inspection: id(inspection),
        incident: id(incident),
        alert: id(alert),
        dossier: id(dossier),
        principal,
    }
}

/// The service areas and their commands.
pub(crate) const AREAS: &[(&str, &[&str])] = &[
    (
        "principals",
        &["IssuePrincipal", "ChangePrincipalRole", "RevokePrincipal"],
    ),
    (
        "registry",
        &[
            "EstablishAuthority",
            "RecordAuthoritySuccession",
            "RegisterCompany",
            "ChangeCompanyDetails",
            "RegisterPark",
            "AssignJurisdiction",
            "AssignInfrastructureCompany",
            "SetParkIndustryRules",
            "SubmitParkAnnualEnvironmentalReport",
            "ReportEnvironmentalInfrastructure",
            "ReportOccupancy",
            "RecordEcoParkEvidence",
            "CertifyEcoPark",
            "RevokeEcoParkCertification",
            "RegisterTenant",
            "RecordEnvironmentalPermit",
            "RecordEnvironmentalCommitment",
            "SubmitAnnualEnvironmentalReport",
        ],
    ),
    (
        "agreement",
        &["SignAgreement", "AmendAgreement", "SupersedeAgreement"],
    ),
    (
        "annual_plan",
        &["IssueAnnualTasks", "ReportTaskProgress", "CompleteTask"],
    ),
    (
        "consultation",
        &[
            "OpenConsultation",
            "SubmitCompanyOpinion",
            "DetermineSuitability",
            "WithdrawConsultation",
            "LinkConsultationToTenant",
        ],
    ),
    ("delivery", &["SkipDeliveryEvent"]),
    ("dissemination", &["RecordLegalTraining", "IssueGuidance"]),
    (
        "exchange",
        &[
            "RequestInformation",
            "ProvideInformation",
            "RequestClarification",
            "CloseExchange",
            "WithdrawExchange",
        ],
    ),
    (
        "incident",
        &[
            "ReportIncident",
            "ClassifyIncident",
            "SendIncidentNotification",
            "TakeResponseAction",
            "EscalateIncident",
            "ContainIncident",
            "ResolveIncident",
            "ReviewIncident",
        ],
    ),
    (
        "inspection",
        &[
            "PlanInspection",
            "IssueInspectionDecision",
            "DeliverInspectionDecision",
            "StartInspection",
            "ExtendInspection",
            "RecordFinding",
            "ConcludeInspection",
            "RequireRemediation",
            "VerifyRemediation",
            "ReferForSanction",
            "CloseInspection",
        ],
    ),
    (
        "monitoring",
        &[
            "ReceiveExceedance",
            "ReportTransmissionInterrupted",
            "ReportTransmissionRestored",
            "ResolveAlert",
        ],
    ),
    ("procedure", &["ReceiveDossier", "DecideDossier"]),
];

/// Sends one command, with every value at an end its case chose.
pub(crate) async fn send(c: &Channel, w: &World, e: &Ends, command: &str) -> Result<(), Status> {
    use max_chars::{ADDRESS, AUDIENCE, BODY, CODE, CONDITION, NAME, NOTE, NUMBER, UNIT};
    let registry = || RegistryServiceClient::new(c.clone());
    let org = |e: &Ends| {
        let kind = e.variant(2);
        proto::OrganisationRef {
            kind,
            id: if kind == 1 { &w.board } else { &w.company }.clone(),
        }
    };
    let attachments = |e: &Ends| {
        e.list(0, max_items::ATTACHMENTS, |_| proto::Attachment {
            name: e.text(NAME),
            sha256: e.sha256(),
        })
    };
    let h = e.header();
    macro_rules! call {
        ($client:expr, $method:ident, $request:expr) => {
            $client.$method($request).await.map(drop)
        };
    }
    let principals = || PrincipalServiceClient::new(c.clone());
    // A role (all five, by their enum values) and the organisation it acts for.
    let role = |e: &Ends| {
        let role = e.variant(5);
        let organisation = match role {
            1 => w.board.clone(),
            2 => w.company.clone(),
            _ => String::new(),
        };
        (role, organisation)
    };
    match command {
        "IssuePrincipal" => {
            let (role, organisation_id) = role(e);
            call!(
                principals(),
                issue_principal,
                proto::IssuePrincipalRequest {
                    header: h,
                    name: e.text(NAME),
                    role,
                    organisation_id,
                    expires_at: e.optional_instant(),
                    client_certificate_sha256: if e.high() { e.sha256() } else { String::new() },
                }
            )
        }
        "ChangePrincipalRole" => {
            let (role, organisation_id) = role(e);
            call!(
                principals(),
                change_principal_role,
                proto::ChangePrincipalRoleRequest {
                    header: h,
                    principal_id: w.principal.clone(),
                    role,
                    organisation_id,
                }
            )
        }
        "SkipDeliveryEvent" => call!(
            kcn_services::proto::delivery_service_client::DeliveryServiceClient::new(c.clone()),
            skip_delivery_event,
            proto::SkipDeliveryEventRequest {
                header: h,
                endpoint: e.either("egov-binhduong", || e.text(CODE)),
                position: if e.high() { u64::MAX } else { 1 },
                reason: e.text(NOTE),
                event_id: w.principal.clone(),
            }
        ),
        "RevokePrincipal" => call!(
            principals(),
            revoke_principal,
            proto::RevokePrincipalRequest {
                header: h,
                principal_id: w.principal.clone(),
                reason: e.text(NOTE),
            }
        ),
        "EstablishAuthority" => call!(
            registry(),
            establish_authority,
            proto::EstablishAuthorityRequest {
                header: h,
                name: e.text(NAME),
                kind: e.variant(5),
                jurisdiction: e.text(NAME),
                decision_no: e.text(NUMBER),
                effective_from: e.date(),
            }
        ),
        "RecordAuthoritySuccession" => call!(
            registry(),
            record_authority_succession,
            proto::RecordAuthoritySuccessionRequest {
                header: h,
                authority_id: w.board.clone(),
                predecessors: e.list(1, max_items::PREDECESSORS, |i| {
                    if i == 0 {
                        &w.board
                    } else {
                        &w.predecessors[i - 1]
                    }
                    .clone()
                }),
                successor: w.other_board.clone(),
                effective_date: e.date(),
                legal_basis: e.text(NAME),
            }
        ),
        "RegisterCompany" => call!(
            registry(),
            register_company,
            proto::RegisterCompanyRequest {
                header: h,
                enterprise_code: e.either("0000000000", || "9999999999-999".into()),
                name: e.text(NAME),
                address: e.optional_text(ADDRESS),
            }
        ),
        "ChangeCompanyDetails" => call!(
            registry(),
            change_company_details,
            proto::ChangeCompanyDetailsRequest {
                header: h,
                company_id: w.company.clone(),
                name: Some(e.text(NAME)),
                address: e.high().then(|| e.text(ADDRESS)),
            }
        ),
        "RegisterPark" => call!(
            registry(),
            register_park,
            proto::RegisterParkRequest {
                header: h,
                code: e.either("A", || format!("Z{}", "-9".repeat(15)) + "Z"),
                name: e.text(NAME),
                area_ha: e.decimal("100000.0000", 4),
                location: e.text(NAME),
            }
        ),
        "AssignJurisdiction" => call!(
            registry(),
            assign_jurisdiction,
            proto::AssignJurisdictionRequest {
                header: h,
                park_id: w.park.clone(),
                authority_id: w.other_board.clone(),
                effective_from: e.date(),
            }
        ),
        "AssignInfrastructureCompany" => call!(
            registry(),
            assign_infrastructure_company,
            proto::AssignInfrastructureCompanyRequest {
                header: h,
                park_id: w.park.clone(),
                company_id: w.other_company.clone(),
                effective_from: e.date(),
            }
        ),
        "SetParkIndustryRules" => call!(
            registry(),
            set_park_industry_rules,
            proto::SetParkIndustryRulesRequest {
                header: h,
                park_id: w.park.clone(),
                allowed_vsic_codes: e.list(0, max_items::PARK_VSIC_CODES, |_| e.vsic()),
                excluded_vsic_codes: e.list(0, max_items::PARK_VSIC_CODES, |_| e.vsic()),
                highest_pollution_level: e.variant(4),
                effective_from: e.date(),
                legal_basis: e.optional_text(NAME),
            }
        ),
        "SubmitParkAnnualEnvironmentalReport" => call!(
            registry(),
            submit_park_annual_environmental_report,
            proto::SubmitParkAnnualEnvironmentalReportRequest {
                header: h,
                park_id: w.park.clone(),
                year: e.year(),
                company_id: w.company.clone(),
                submitted_on: e.optional_date(),
                document_sha256: if e.high() { e.sha256() } else { String::new() },
            }
        ),
        "ReportEnvironmentalInfrastructure" => call!(
            registry(),
            report_environmental_infrastructure,
            proto::ReportEnvironmentalInfrastructureRequest {
                header: h,
                park_id: w.park.clone(),
                company_id: w.company.clone(),
                wastewater_capacity_m3_per_day: e.num(1, 10_000_000),
                wastewater_load_m3_per_day: e.high().then(|| e.num(0, 10_000_000)),
                monitoring_connected: e.high(),
                as_of: e.date(),
            }
        ),
        "ReportOccupancy" => call!(
            registry(),
            report_occupancy,
            proto::ReportOccupancyRequest {
                header: h,
                park_id: w.park.clone(),
                company_id: w.company.clone(),
                rate_percent: if e.high() { "100.00" } else { "0" }.into(),
                as_of: e.date(),
            }
        ),
        "RecordEcoParkEvidence" => call!(
            registry(),
            record_eco_park_evidence,
            proto::RecordEcoParkEvidenceRequest {
                header: h,
                park_id: w.park.clone(),
                criterion: e.text(NAME),
                value: e.text(NOTE),
                document_sha256: e.sha256(),
            }
        ),
        "CertifyEcoPark" => call!(
            registry(),
            certify_eco_park,
            proto::CertifyEcoParkRequest {
                header: h,
                park_id: w.park.clone(),
                certificate_no: e.text(NUMBER),
                valid_to: e.date(),
            }
        ),
        "RevokeEcoParkCertification" => call!(
            registry(),
            revoke_eco_park_certification,
            proto::RevokeEcoParkCertificationRequest {
                header: h,
                park_id: w.park.clone(),
                certificate_no: e.either("GCN-1", || e.text(NUMBER)),
                reason: e.text(NOTE),
            }
        ),
        "RegisterTenant" => call!(
            registry(),
            register_tenant,
            proto::RegisterTenantRequest {
                header: h,
                park_id: w.park.clone(),
                enterprise_code: e.either("0000000001", || "9999999998-000".into()),
                name: e.text(NAME),
                investment_registration_no: e.text(NUMBER),
                vsic_codes: e.list(1, max_items::TENANT_VSIC_CODES, |_| e.vsic()),
                foreign_invested: e.high(),
            }
        ),
        "RecordEnvironmentalPermit" => call!(
            registry(),
            record_environmental_permit,
            proto::RecordEnvironmentalPermitRequest {
                header: h,
                tenant_id: w.tenant.clone(),
                permit_no: e.text(NUMBER),
                issuer: e.text(NAME),
                valid_from: e.date(),
                valid_to: e.optional_date(),
            }
        ),
        "RecordEnvironmentalCommitment" => call!(
            registry(),
            record_environmental_commitment,
            proto::RecordEnvironmentalCommitmentRequest {
                header: h,
                tenant_id: w.tenant.clone(),
                commitment_id: e.text(CODE),
                requirement: e.text(BODY),
            }
        ),
        "SubmitAnnualEnvironmentalReport" => call!(
            registry(),
            submit_annual_environmental_report,
            proto::SubmitAnnualEnvironmentalReportRequest {
                header: h,
                tenant_id: w.tenant.clone(),
                year: e.year(),
                submitted_on: e.optional_date(),
            }
        ),
        "SignAgreement" | "AmendAgreement" => {
            let levels = Some(proto::ServiceLevels {
                incident_notification_hours: e.num(1, 720),
                information_answer_days: e.num(1, 365),
                infrastructure_information_days: e.high().then(|| e.num(1, 365)),
                consultation_answer_days: e.high().then(|| e.num(1, 365)),
                quarterly_report_due_day: e.high().then(|| e.num(1, 28)),
            });
            let mut client = AgreementServiceClient::new(c.clone());
            if command == "SignAgreement" {
                call!(
                    client,
                    sign_agreement,
                    proto::SignAgreementRequest {
                        header: h,
                        authority_id: w.board.clone(),
                        company_ids: e
                            .list(1, max_items::AGREEMENT_COMPANIES, |_| w.company.clone()),
                        version: e.text(CODE),
                        title: e.text(NAME),
                        document_no: e.optional_text(NUMBER),
                        signed_on: e.optional_date(),
                        effective_from: e.optional_date(),
                        document_sha256: e.sha256(),
                        service_levels: levels,
                    }
                )
            } else {
                call!(
                    client,
                    amend_agreement,
                    proto::AmendAgreementRequest {
                        header: h,
                        agreement_id: w.agreement.clone(),
                        amendment_no: e.optional_text(NUMBER),
                        service_levels: levels,
                        effective_from: e.date(),
                        document_sha256: if e.high() { e.sha256() } else { String::new() },
                        reason: e.optional_text(NOTE),
                    }
                )
            }
        }
        "SupersedeAgreement" => call!(
            AgreementServiceClient::new(c.clone()),
            supersede_agreement,
            proto::SupersedeAgreementRequest {
                header: h,
                agreement_id: w.agreement.clone(),
                by: w.other_agreement.clone(),
                effective_from: e.date(),
            }
        ),
        "IssueAnnualTasks" => {
            // One due date for every task (the latest end), so that a plan's tasks are not due
            // before it is issued.
            let due_on = "9999-12-31".to_owned();
            call!(
                AnnualPlanServiceClient::new(c.clone()),
                issue_annual_tasks,
                proto::IssueAnnualTasksRequest {
                    header: h,
                    authority_id: w.board.clone(),
                    year: e.year(),
                    issued_on: e.optional_date(),
                    document_no: e.optional_text(NUMBER),
                    tasks: e.list(1, max_items::TASKS, |i| proto::AnnualTask {
                        due_on: due_on.clone(),
                        task_id: format!("{i}{}", e.text(CODE - 2)),
                        title: e.text(NAME),
                        description: e.high().then(|| e.text(max_chars::TASK_DESCRIPTION)),
                        assignee_company_id: w.company.clone(),
                        park_id: e.high().then(|| w.park.clone()),
                    }),
                }
            )
        }
        "ReportTaskProgress" => call!(
            AnnualPlanServiceClient::new(c.clone()),
            report_task_progress,
            proto::ReportTaskProgressRequest {
                header: h,
                plan_id: w.plan.clone(),
                task_id: e.either("T1", || e.text(CODE)),
                percent: e.num(0, 100),
                note: e.optional_text(NOTE),
                quarter: e.num(0, 4),
            }
        ),
        "CompleteTask" => call!(
            AnnualPlanServiceClient::new(c.clone()),
            complete_task,
            proto::CompleteTaskRequest {
                header: h,
                plan_id: w.plan.clone(),
                task_id: e.either("T1", || e.text(CODE)),
                completed_on: e.optional_date(),
                note: e.optional_text(NOTE),
            }
        ),
        "OpenConsultation" => call!(
            IndustryConsultationServiceClient::new(c.clone()),
            open_consultation,
            proto::OpenConsultationRequest {
                header: h,
                park_id: w.park.clone(),
                company_id: w.company.clone(),
                prospective_investor: e.text(NAME),
                project: e.optional_text(NAME),
                vsic_code: Some(e.vsic()),
                pollution_level: e.variant(4),
                capacity: Some(proto::Capacity {
                    value: e.decimal("999999999999.9999", 4),
                    unit: e.text(CODE),
                }),
            }
        ),
        "SubmitCompanyOpinion" => call!(
            IndustryConsultationServiceClient::new(c.clone()),
            submit_company_opinion,
            proto::SubmitCompanyOpinionRequest {
                header: h,
                consultation_id: w.consultation.clone(),
                opinion: e.text(BODY),
                attachments: attachments(e),
            }
        ),
        "DetermineSuitability" => call!(
            IndustryConsultationServiceClient::new(c.clone()),
            determine_suitability,
            proto::DetermineSuitabilityRequest {
                header: h,
                consultation_id: w.consultation.clone(),
                determination: e.variant(3),
                conditions: e.list(0, max_items::CONDITIONS, |_| e.text(CONDITION)),
                rationale: e.text(BODY),
                legal_basis: e.text(NAME),
                decided_on: e.optional_date(),
                document_no: e.optional_text(NUMBER),
            }
        ),
        "WithdrawConsultation" => call!(
            IndustryConsultationServiceClient::new(c.clone()),
            withdraw_consultation,
            proto::WithdrawConsultationRequest {
                header: h,
                consultation_id: w.consultation.clone(),
                reason: e.text(NOTE),
            }
        ),
        "LinkConsultationToTenant" => call!(
            IndustryConsultationServiceClient::new(c.clone()),
            link_consultation_to_tenant,
            proto::LinkConsultationToTenantRequest {
                header: h,
                consultation_id: w.consultation.clone(),
                tenant_id: w.tenant.clone(),
            }
        ),
        "RecordLegalTraining" => call!(
            DisseminationServiceClient::new(c.clone()),
            record_legal_training,
            proto::RecordLegalTrainingRequest {
                header: h,
                authority_id: w.board.clone(),
                topic: e.text(NAME),
                held_on: e.optional_date(),
                audience: e.text(AUDIENCE),
                attendee_count: if e.ordinary { 1 } else { e.num(0, 100_000) },
                park_ids: e.list(0, max_items::PARKS, |_| w.park.clone()),
            }
        ),
        "IssueGuidance" => call!(
            DisseminationServiceClient::new(c.clone()),
            issue_guidance,
            proto::IssueGuidanceRequest {
                header: h,
                authority_id: w.board.clone(),
                doc_no: e.text(NUMBER),
                title: e.text(NAME),
                document_sha256: e.sha256(),
                issued_on: e.optional_date(),
                park_ids: e.list(0, max_items::PARKS, |_| w.park.clone()),
            }
        ),
        "RequestInformation" => call!(
            InformationExchangeServiceClient::new(c.clone()),
            request_information,
            proto::RequestInformationRequest {
                header: h,
                // Ordinary: the Board asks the company.
                from: Some(org(e)),
                to: Some(if e.ordinary {
                    proto::OrganisationRef {
                        kind: proto::OrganisationKind::InfrastructureCompany as i32,
                        id: w.company.clone(),
                    }
                } else {
                    org(e)
                }),
                park_id: if e.high() {
                    w.park.clone()
                } else {
                    String::new()
                },
                subject: e.text(NAME),
                body: e.text(BODY),
                due_at: e.optional_instant(),
            }
        ),
        "ProvideInformation" => call!(
            InformationExchangeServiceClient::new(c.clone()),
            provide_information,
            proto::ProvideInformationRequest {
                header: h,
                exchange_id: w.exchange.clone(),
                body: e.text(BODY),
                attachments: attachments(e),
            }
        ),
        "RequestClarification" => call!(
            InformationExchangeServiceClient::new(c.clone()),
            request_clarification,
            proto::RequestClarificationRequest {
                header: h,
                exchange_id: w.exchange.clone(),
                question: e.text(BODY),
            }
        ),
        "CloseExchange" => call!(
            InformationExchangeServiceClient::new(c.clone()),
            close_exchange,
            proto::CloseExchangeRequest {
                header: h,
                exchange_id: w.exchange.clone(),
                note: e.optional_text(NOTE),
            }
        ),
        "WithdrawExchange" => call!(
            InformationExchangeServiceClient::new(c.clone()),
            withdraw_exchange,
            proto::WithdrawExchangeRequest {
                header: h,
                exchange_id: w.exchange.clone(),
                reason: e.text(NOTE),
            }
        ),
        "ReportIncident" => call!(
            IncidentServiceClient::new(c.clone()),
            report_incident,
            proto::ReportIncidentRequest {
                header: h,
                park_id: w.park.clone(),
                tenant_id: if e.high() {
                    w.tenant.clone()
                } else {
                    String::new()
                },
                kind: e.variant(5),
                detected_at: Some(e.instant()),
                location: e.text(NAME),
                description: e.text(BODY),
                reported_by: Some(org(e)),
            }
        ),
        "ClassifyIncident" => call!(
            IncidentServiceClient::new(c.clone()),
            classify_incident,
            proto::ClassifyIncidentRequest {
                header: h,
                incident_id: w.incident.clone(),
                level: e.variant(5),
                scheme_version: e.text(CODE),
                rationale: e.optional_text(NOTE),
            }
        ),
        "SendIncidentNotification" => call!(
            IncidentServiceClient::new(c.clone()),
            send_incident_notification,
            proto::SendIncidentNotificationRequest {
                header: h,
                incident_id: w.incident.clone(),
                sender: Some(proto::OrganisationRef {
                    kind: proto::OrganisationKind::InfrastructureCompany as i32,
                    id: w.company.clone(),
                }),
                recipient_authority_id: w.board.clone(),
                recipient: e.optional_text(NAME),
                channel: e.variant(6),
                sent_at: e.optional_instant(),
                message: e.optional_text(NOTE),
            }
        ),
        "TakeResponseAction" => call!(
            IncidentServiceClient::new(c.clone()),
            take_response_action,
            proto::TakeResponseActionRequest {
                header: h,
                incident_id: w.incident.clone(),
                action: e.text(NOTE),
                by: e.text(NAME),
            }
        ),
        "EscalateIncident" => call!(
            IncidentServiceClient::new(c.clone()),
            escalate_incident,
            proto::EscalateIncidentRequest {
                header: h,
                incident_id: w.incident.clone(),
                authority_id: w.board.clone(),
                reason: e.text(NOTE),
            }
        ),
        "ContainIncident" => call!(
            IncidentServiceClient::new(c.clone()),
            contain_incident,
            proto::ContainIncidentRequest {
                header: h,
                incident_id: w.incident.clone(),
                note: e.optional_text(NOTE),
            }
        ),
        "ResolveIncident" => call!(
            IncidentServiceClient::new(c.clone()),
            resolve_incident,
            proto::ResolveIncidentRequest {
                header: h,
                incident_id: w.incident.clone(),
                summary: e.text(BODY),
            }
        ),
        "ReviewIncident" => call!(
            IncidentServiceClient::new(c.clone()),
            review_incident,
            proto::ReviewIncidentRequest {
                header: h,
                incident_id: w.incident.clone(),
                lessons: e.text(BODY),
            }
        ),
        "PlanInspection" => call!(
            InspectionServiceClient::new(c.clone()),
            plan_inspection,
            proto::PlanInspectionRequest {
                header: h,
                park_id: w.park.clone(),
                tenant_ids: e.list(1, max_items::INSPECTED_TENANTS, |_| w.tenant.clone()),
                conducted_by: e.variant(3),
                kind: e.variant(3),
                planned_for: e.date(),
                scope: e.text(NOTE),
                incident_id: if e.high() {
                    w.incident.clone()
                } else {
                    String::new()
                },
            }
        ),
        "IssueInspectionDecision" => call!(
            InspectionServiceClient::new(c.clone()),
            issue_inspection_decision,
            proto::IssueInspectionDecisionRequest {
                header: h,
                inspection_id: w.inspection.clone(),
                decision_no: e.text(NUMBER),
                issued_on: e.optional_date(),
                grounds: e.optional_text(NOTE),
            }
        ),
        "DeliverInspectionDecision" => call!(
            InspectionServiceClient::new(c.clone()),
            deliver_inspection_decision,
            proto::DeliverInspectionDecisionRequest {
                header: h,
                inspection_id: w.inspection.clone(),
                tenant_ids: e.list(0, max_items::INSPECTED_TENANTS, |_| w.tenant.clone()),
                delivered_on: e.optional_date(),
                recipient: e.optional_text(NAME),
            }
        ),
        "StartInspection" => call!(
            InspectionServiceClient::new(c.clone()),
            start_inspection,
            proto::StartInspectionRequest {
                header: h,
                inspection_id: w.inspection.clone(),
                started_on: e.optional_date(),
            }
        ),
        "ExtendInspection" => call!(
            InspectionServiceClient::new(c.clone()),
            extend_inspection,
            proto::ExtendInspectionRequest {
                header: h,
                inspection_id: w.inspection.clone(),
                days: e.num(1, 365),
                reason: e.text(NOTE),
                decision_no: e.optional_text(NUMBER),
            }
        ),
        "RecordFinding" => call!(
            InspectionServiceClient::new(c.clone()),
            record_finding,
            proto::RecordFindingRequest {
                header: h,
                inspection_id: w.inspection.clone(),
                finding_id: e.either("F1", || e.text(CODE)),
                tenant_id: w.tenant.clone(),
                requirement: e.text(NOTE),
                severity: e.variant(3),
                description: e.text(BODY),
                commitment_id: String::new(),
            }
        ),
        "ConcludeInspection" => call!(
            InspectionServiceClient::new(c.clone()),
            conclude_inspection,
            proto::ConcludeInspectionRequest {
                header: h,
                inspection_id: w.inspection.clone(),
                conclusion_no: e.text(NUMBER),
                summary: e.text(BODY),
                concluded_on: e.optional_date(),
            }
        ),
        "RequireRemediation" => call!(
            InspectionServiceClient::new(c.clone()),
            require_remediation,
            proto::RequireRemediationRequest {
                header: h,
                inspection_id: w.inspection.clone(),
                finding_id: e.either("F1", || e.text(CODE)),
                due_on: e.date(),
                action: e.text(NOTE),
            }
        ),
        "VerifyRemediation" => call!(
            InspectionServiceClient::new(c.clone()),
            verify_remediation,
            proto::VerifyRemediationRequest {
                header: h,
                inspection_id: w.inspection.clone(),
                finding_id: e.either("F1", || e.text(CODE)),
                note: e.optional_text(NOTE),
            }
        ),
        "ReferForSanction" => call!(
            InspectionServiceClient::new(c.clone()),
            refer_for_sanction,
            proto::ReferForSanctionRequest {
                header: h,
                inspection_id: w.inspection.clone(),
                finding_id: e.either("F1", || e.text(CODE)),
                authority_id: w.board.clone(),
                reason: e.text(NOTE),
            }
        ),
        "CloseInspection" => call!(
            InspectionServiceClient::new(c.clone()),
            close_inspection,
            proto::CloseInspectionRequest {
                header: h,
                inspection_id: w.inspection.clone(),
                note: e.optional_text(NOTE),
            }
        ),
        "ReceiveExceedance" => call!(
            MonitoringServiceClient::new(c.clone()),
            receive_exceedance,
            proto::ReceiveExceedanceRequest {
                header: h,
                alert_id: if e.high() {
                    w.alert.clone()
                } else {
                    String::new()
                },
                park_id: w.park.clone(),
                station_id: e.either("ST-1", || e.text(CODE)),
                tenant_id: if e.high() {
                    w.tenant.clone()
                } else {
                    String::new()
                },
                parameter: e.variant(10),
                value: e.decimal("999999999999.999999", 6),
                unit: e.text(UNIT),
                limit: e.decimal("999999999999.999999", 6),
                standard_ref: e.text(NAME),
                measured_at: Some(e.instant()),
            }
        ),
        "ReportTransmissionInterrupted" => call!(
            MonitoringServiceClient::new(c.clone()),
            report_transmission_interrupted,
            proto::ReportTransmissionInterruptedRequest {
                header: h,
                alert_id: if e.high() {
                    w.alert.clone()
                } else {
                    String::new()
                },
                park_id: w.park.clone(),
                station_id: e.either("ST-1", || e.text(CODE)),
                last_data_at: e.optional_instant(),
                reason: e.optional_text(NOTE),
            }
        ),
        "ReportTransmissionRestored" => call!(
            MonitoringServiceClient::new(c.clone()),
            report_transmission_restored,
            proto::ReportTransmissionRestoredRequest {
                header: h,
                alert_id: w.alert.clone(),
                note: e.optional_text(NOTE),
            }
        ),
        "ResolveAlert" => call!(
            MonitoringServiceClient::new(c.clone()),
            resolve_alert,
            proto::ResolveAlertRequest {
                header: h,
                alert_id: w.alert.clone(),
                inspection_id: if e.high() {
                    w.inspection.clone()
                } else {
                    String::new()
                },
                incident_id: if e.high() {
                    w.incident.clone()
                } else {
                    String::new()
                },
                reason: e.text(NOTE),
            }
        ),
        "ReceiveDossier" => call!(
            ProcedureServiceClient::new(c.clone()),
            receive_dossier,
            proto::ReceiveDossierRequest {
                header: h,
                procedure_code: e.text(CODE),
                authority_id: w.board.clone(),
                tenant_id: w.tenant.clone(),
                park_id: w.park.clone(),
                dossier_no: e.optional_text(NUMBER),
                received_on: e.optional_date(),
                promised_days: e.high().then(|| e.num(1, 365)),
            }
        ),
        "DecideDossier" => call!(
            ProcedureServiceClient::new(c.clone()),
            decide_dossier,
            proto::DecideDossierRequest {
                header: h,
                dossier_id: w.dossier.clone(),
                outcome: e.variant(3),
                decided_on: e.optional_date(),
                decision_no: e.optional_text(NUMBER),
                note: e.optional_text(NOTE),
            }
        ),
        other => panic!("no generator for {other}"),
    }
}

/// What one area's run found wrong.
#[derive(Default)]
struct Findings {
    /// Commands answered INTERNAL or UNKNOWN, with the choices of the case.
    unclear: Vec<String>,
    /// Read models that stopped, with their error and the event they stopped at.
    stopped: Vec<String>,
    /// Read models that did not reach the head in time.
    behind: Vec<String>,
    /// The largest payload plus metadata of each event type, in bytes.
    largest: BTreeMap<String, usize>,
}

async fn run_area(area: &str, commands: &[&str], findings: &mut Findings) {
    let server = TestServer::start().await;
    // The server's clock at the end of the range, so that every instant up to it is in the past.
    server.clock.set(at("9999-12-31T23:59:59Z"));
    let handle = tokio::runtime::Handle::current();
    let mut accepted: BTreeMap<&str, u32> = BTreeMap::new();
    for &command in commands {
        // Fresh aggregates for each command: an accepted step at the end of time closes its
        // aggregate to every later one.
        let mut w = world(&server).await;
        prepare(&server, &mut w, command).await;
        let w = w;
        let accepts = Cell::new(0);
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&prop::collection::vec(any::<bool>(), 48), |bits| {
            let ends = Ends {
                bits: bits.clone(),
                next: Cell::new(0),
                local: Cell::new(None),
                ordinary: false,
            };
            let answer = tokio::task::block_in_place(|| {
                handle.block_on(send(&server.channel, &w, &ends, command))
            });
            match answer {
                Ok(()) => accepts.set(accepts.get() + 1),
                Err(s) if matches!(s.code(), Code::Internal | Code::Unknown) => {
                    prop_assert!(
                        false,
                        "{area}/{command} answered {:?}: {}",
                        s.code(),
                        s.message()
                    );
                }
                Err(s) => {
                    if std::env::var("KCN_EXTREMES_DEBUG").is_ok() {
                        eprintln!("{command}: {:?} {}", s.code(), s.message());
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            findings.unclear.push(format!("{e}"));
        }
        accepted.insert(command, accepts.get());
    }
    eprintln!("extremes: {area}: accepted per command {accepted:?}");

    // Every read model reaches the head, or the test names the one that stopped and where.
    let head = server.read_log().await.len() as u64;
    let audit = server.audit();
    let status = || {
        let mut audit = audit.clone();
        async move {
            audit
                .get_projection_status(proto::GetProjectionStatusRequest {})
                .await
                .unwrap()
                .into_inner()
                .projections
        }
    };
    // A model that panics reports nothing and stays behind; the deadline names it then.
    wait_until(Duration::from_secs(30), || async {
        status()
            .await
            .iter()
            .all(|p| p.position == head || !p.error.is_empty())
    })
    .await;
    let last = status().await;
    let log = server.read_log().await;
    for p in &last {
        if !p.error.is_empty() {
            let at = log.get(p.position as usize);
            findings.stopped.push(format!(
                "{area}: read model {} stopped after position {} of {head} before {} ({} bytes): {}",
                p.name,
                p.position,
                at.map_or("?", |e| e.event_type.as_str()),
                at.map_or(0, |e| e.payload.len()),
                p.error
            ));
        } else if p.position != head {
            findings.behind.push(format!(
                "{area}: read model {} at {} of {head}",
                p.name, p.position
            ));
        }
    }
    for e in &log {
        let size = e.payload.len() + e.metadata.len();
        let largest = findings.largest.entry(e.event_type.clone()).or_default();
        *largest = (*largest).max(size);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_at_its_extremes_is_answered_clearly_and_every_read_model_reaches_the_head() {
    let mut findings = Findings::default();
    for (area, commands) in AREAS {
        run_area(area, commands, &mut findings).await;
    }
    eprintln!("extremes: largest payload and metadata per event type (bytes):");
    for (event_type, size) in &findings.largest {
        eprintln!("  {event_type}: {size}");
    }
    let oversized: Vec<_> = findings
        .largest
        .iter()
        .filter(|(_, size)| **size >= EVENT_CAP)
        .collect();
    let mut report = Vec::new();
    report.extend(findings.unclear.iter().cloned());
    report.extend(findings.stopped.iter().cloned());
    report.extend(findings.behind.iter().cloned());
    report.extend(
        oversized
            .iter()
            .map(|(t, s)| format!("{t}: {s} bytes, over the cap")),
    );
    assert!(
        report.is_empty(),
        "extreme values broke the ledger:\n{}",
        report.join("\n")
    );
}
