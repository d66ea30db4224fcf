//! The province's story as a discrete-event simulation: one queue of steps per park and one for the
//! province's own acts, each in business-time order. A step is one command, sent with the token of
//! the party that performs it; what it answers may schedule later steps of the same story.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Utc};
use kcn_services::proto;
use proto::OrganisationRef;
use proto::agreement_service_client::AgreementServiceClient;
use proto::annual_plan_service_client::AnnualPlanServiceClient;
use proto::dissemination_service_client::DisseminationServiceClient;
use proto::incident_service_client::IncidentServiceClient;
use proto::industry_consultation_service_client::IndustryConsultationServiceClient;
use proto::information_exchange_service_client::InformationExchangeServiceClient;
use proto::inspection_service_client::InspectionServiceClient;
use proto::monitoring_service_client::MonitoringServiceClient;
use proto::procedure_service_client::ProcedureServiceClient;
use proto::registry_service_client::RegistryServiceClient;
use rand::Rng as _;
use rand::SeedableRng as _;
use rand::seq::IndexedRandom as _;
use rand_chacha::ChaCha8Rng;
use tokio::sync::Barrier;

use super::reference::{self, Province};
use super::{Callers, Generated, Sender, at_local, id_of, timestamp};
use crate::client::AuthChannel;

/// About how many events one park's month of coordination records at density 1 (the rates
/// below, times the events of each story).
pub(crate) const EVENTS_PER_PARK_MONTH: f64 = 21.0;

/// Stories a park starts per month at density 1.
const BOARD_REQUESTS: f64 = 2.0;
const COMPANY_REQUESTS: f64 = 0.5;
const EXCEEDANCES: f64 = 1.5;
const INTERRUPTIONS: f64 = 0.5;
const PLANNED_INSPECTIONS: f64 = 0.25;
const INCIDENTS: f64 = 0.05;
const CONSULTATIONS: f64 = 0.4;
const DOSSIERS: f64 = 1.5;

/// What the simulation shares.
pub(crate) struct World {
    pub province: Province,
    pub board: String,
    pub successor: String,
    pub companies: Vec<String>,
    pub parks: Vec<String>,
    pub callers: Callers,
    pub sender: Sender,
    pub merger: NaiveDate,
    pub end: NaiveDate,
    pub density: f64,
}

/// The first day of every month from `from`'s to `end`'s.
pub(crate) fn months(from: NaiveDate, end: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut m = from.with_day(1).expect("day 1");
    while m <= end {
        out.push(m);
        m = m
            .checked_add_months(chrono::Months::new(1))
            .expect("a month later");
    }
    out
}

/// The local (UTC+7) date of an instant.
fn local(at: DateTime<Utc>) -> NaiveDate {
    (at + Duration::hours(7)).date_naive()
}

fn hex(rng: &mut ChaCha8Rng) -> String {
    (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// `rate` stories, as a whole number: the fraction by chance.
fn count(rng: &mut ChaCha8Rng, rate: f64) -> usize {
    let whole = rate.floor();
    whole as usize + usize::from(rng.random_bool((rate - whole).clamp(0.0, 1.0)))
}

#[derive(Debug, Clone)]
struct Tenant {
    id: String,
    code: String,
    commitment: String,
}

/// One step of a story.
#[derive(Debug, Clone)]
enum Step {
    // Stories a park starts.
    BoardRequest,
    CompanyRequest,
    Exceedance,
    Interruption,
    PlannedInspection,
    Incident,
    Consultation,
    Dossier,
    Quarterly,
    ParkAnnualReport {
        year: i32,
    },
    TenantAnnualReport {
        tenant: usize,
        year: i32,
    },
    EcoParkEvidence,
    /// An unannounced inspection on a monitoring alert's grounds (then the alert's resolution).
    FollowUp {
        alert: String,
        grounds: String,
    },
    /// A post-check inspection after an incident.
    PostCheck,
    // An information exchange.
    Answer {
        exchange: String,
        by_board: bool,
        clarify: bool,
        close: bool,
    },
    Clarify {
        exchange: String,
        by_board: bool,
        close: bool,
    },
    Close {
        exchange: String,
        by_board: bool,
    },
    // A monitoring alert.
    ResolveAlert {
        alert: String,
        reason: &'static str,
    },
    Restore {
        alert: String,
    },
    // An inspection.
    Decide {
        inspection: String,
        tenants: Vec<usize>,
        grounds: Option<String>,
        start: NaiveDate,
    },
    Deliver {
        inspection: String,
        tenants: Vec<usize>,
        start: NaiveDate,
    },
    Start {
        inspection: String,
        tenants: Vec<usize>,
    },
    Extend {
        inspection: String,
    },
    Finding {
        inspection: String,
        tenant: usize,
        n: usize,
    },
    Conclude {
        inspection: String,
        findings: Vec<(String, bool)>,
    },
    Remediate {
        inspection: String,
        finding: String,
        verify_at: Option<DateTime<Utc>>,
    },
    VerifyRemediation {
        inspection: String,
        finding: String,
    },
    Refer {
        inspection: String,
        finding: String,
    },
    CloseInspection {
        inspection: String,
    },
    // An incident.
    Classify {
        incident: String,
    },
    Notify {
        incident: String,
    },
    Respond {
        incident: String,
        action: &'static str,
    },
    Escalate {
        incident: String,
    },
    Contain {
        incident: String,
    },
    Resolve {
        incident: String,
    },
    Review {
        incident: String,
    },
    // A consultation.
    Opinion {
        consultation: String,
        vsic: String,
    },
    Determine {
        consultation: String,
        vsic: String,
    },
    NewTenant {
        consultation: String,
        vsic: String,
        name: String,
    },
    // A dossier.
    DecideDossier {
        dossier: String,
    },
    // The province's acts.
    AnnualTasks {
        year: i32,
    },
    TaskProgress {
        plan: String,
        task: String,
        company: usize,
        quarter: u32,
        percent: u32,
    },
    CompleteTask {
        plan: String,
        task: String,
    },
    Training,
    Guidance,
    SignAgreement {
        second: bool,
    },
}

struct Item {
    at: DateTime<Utc>,
    seq: u64,
    step: Step,
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The ids a worker's stories created.
#[derive(Default)]
struct Collected {
    tenants: Vec<String>,
    incidents: Vec<String>,
    inspections: Vec<String>,
    consultations: Vec<String>,
    exchanges: Vec<String>,
    dossiers: Vec<String>,
    alerts: Vec<String>,
    agreements: Vec<String>,
    plans: Vec<String>,
}

/// One queue: a park's (`park` is its index) or the province's (`None`).
struct Worker {
    world: Arc<World>,
    park: Option<usize>,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<Item>>,
    seq: u64,
    commands: u64,
    tenants: Vec<Tenant>,
    collected: Collected,
    /// The agreement in force, for the province's queue.
    agreement: Option<String>,
}

macro_rules! client {
    ($service:ident, $channel:expr) => {
        $service::new($channel.clone())
    };
}

const SUBJECTS: &[&str] = &[
    "Báo cáo lưu lượng nước thải đầu vào nhà máy xử lý tập trung",
    "Danh sách doanh nghiệp chưa đấu nối nước thải",
    "Kết quả quan trắc định kỳ quý",
    "Tình hình thu gom chất thải rắn công nghiệp",
    "Kế hoạch ứng phó sự cố môi trường",
    "Hồ sơ vận hành hệ thống quan trắc tự động",
    "Tiến độ cải tạo hệ thống thoát nước mưa",
    "Số liệu tỷ lệ lấp đầy và doanh nghiệp mới",
];
const COMPANY_SUBJECTS: &[&str] = &[
    "Hướng dẫn thủ tục cấp giấy phép môi trường cho doanh nghiệp thứ cấp",
    "Ý kiến về quy hoạch phân khu chức năng",
    "Làm rõ yêu cầu báo cáo công tác bảo vệ môi trường",
];
const PROCEDURES: &[&str] = &["1.010727", "1.010728", "1.010729", "1.004240", "2.001766"];
const TRAININGS: &[&str] = &[
    "Luật Bảo vệ môi trường 2020 và Nghị định 08/2022/NĐ-CP",
    "Giấy phép môi trường cho doanh nghiệp trong KCN",
    "Ứng phó sự cố môi trường tại khu công nghiệp",
    "Quan trắc tự động, liên tục nước thải",
];
const TASKS: &[&str] = &[
    "Rà soát đấu nối nước thải của doanh nghiệp thứ cấp",
    "Duy trì truyền số liệu quan trắc tự động về Sở",
    "Cập nhật kế hoạch ứng phó sự cố môi trường",
];
const RESPONSES: &[&str] = &[
    "Đóng van xả, cô lập khu vực",
    "Huy động xe hút bồn chứa tạm",
    "Phun xịt phân tán bọt, lắp phao quây",
    "Lấy mẫu nước tại cống xả và suối tiếp nhận",
];

impl Worker {
    fn new(world: Arc<World>, park: Option<usize>, tenants: Vec<Tenant>, seed: u64) -> Self {
        let stream = park.map_or(0xFFFF, |p| p as u64);
        Self {
            world,
            park,
            rng: ChaCha8Rng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            queue: BinaryHeap::new(),
            seq: 0,
            commands: 0,
            tenants,
            collected: Collected::default(),
            agreement: None,
        }
    }

    fn push(&mut self, at: DateTime<Utc>, step: Step) {
        self.seq += 1;
        self.queue.push(Reverse(Item {
            at,
            seq: self.seq,
            step,
        }));
    }

    /// A moment in the working hours of a day `days` after `from`'s.
    fn later(&mut self, from: DateTime<Utc>, days: i64) -> DateTime<Utc> {
        let minutes = self.rng.random_range(0..540);
        let day = local(from) + Duration::days(days);
        let at = at_local(day, minutes);
        if at <= from {
            from + Duration::minutes(self.rng.random_range(5..120))
        } else {
            at
        }
    }

    /// A moment in the working hours of a day some days (drawn from `days`) after `from`'s.
    fn later_in(
        &mut self,
        from: DateTime<Utc>,
        days: impl rand::distr::uniform::SampleRange<i64>,
    ) -> DateTime<Utc> {
        let days = self.rng.random_range(days);
        self.later(from, days)
    }

    /// The next request id of this queue (deterministic: the queue runs its steps in order).
    fn header(&mut self, at: DateTime<Utc>) -> Option<proto::CommandHeader> {
        self.commands += 1;
        let name = match self.park {
            Some(p) => format!("p{p}-{}", self.commands),
            None => format!("province-{}", self.commands),
        };
        self.world.sender.header(&name, at)
    }

    fn park_id(&self) -> String {
        self.world.parks[self.park.expect("a park's queue")].clone()
    }

    fn company_index(&self) -> usize {
        self.world.province.parks[self.park.expect("a park's queue")].company
    }

    fn company_id(&self) -> String {
        self.world.companies[self.company_index()].clone()
    }

    fn company(&self) -> AuthChannel {
        self.world.callers.companies[self.company_index()].clone()
    }

    /// The Board acting on `at`: Bình Dương's until the merger, then the city's.
    fn board(&self, at: DateTime<Utc>) -> (AuthChannel, String) {
        if local(at) >= self.world.merger {
            (
                self.world.callers.successor.clone(),
                self.world.successor.clone(),
            )
        } else {
            (self.world.callers.board.clone(), self.world.board.clone())
        }
    }

    fn board_ref(&self, at: DateTime<Utc>) -> OrganisationRef {
        OrganisationRef {
            kind: proto::OrganisationKind::Authority as i32,
            id: self.board(at).1,
        }
    }

    fn company_ref(&self) -> OrganisationRef {
        OrganisationRef {
            kind: proto::OrganisationKind::InfrastructureCompany as i32,
            id: self.company_id(),
        }
    }

    fn code(&self) -> String {
        self.world.province.parks[self.park.expect("a park's queue")]
            .code
            .clone()
    }

    /// Schedules the park's stories for every month.
    fn plan_park(&mut self, months: &[NaiveDate]) {
        let density = self.world.density;
        for &month in months {
            let days = i64::from(
                month
                    .checked_add_months(chrono::Months::new(1))
                    .map_or(28, |next| (next - month).num_days() as u32),
            );
            let kinds: [(f64, Step); 8] = [
                (BOARD_REQUESTS, Step::BoardRequest),
                (COMPANY_REQUESTS, Step::CompanyRequest),
                (EXCEEDANCES, Step::Exceedance),
                (INTERRUPTIONS, Step::Interruption),
                (PLANNED_INSPECTIONS, Step::PlannedInspection),
                (INCIDENTS, Step::Incident),
                (CONSULTATIONS, Step::Consultation),
                (DOSSIERS, Step::Dossier),
            ];
            for (rate, step) in kinds {
                for _ in 0..count(&mut self.rng, rate * density) {
                    let day = month + Duration::days(self.rng.random_range(0..days));
                    let at = at_local(day, self.rng.random_range(0..540));
                    self.push(at, step.clone());
                }
            }
            if month.month() % 3 == 1 {
                // Within the agreement's ten days, mostly.
                let day = if self.rng.random_bool(0.9) {
                    self.rng.random_range(1..9)
                } else {
                    self.rng.random_range(11..25)
                };
                let day = month + Duration::days(day);
                self.push(at_local(day, 60), Step::Quarterly);
            }
            if month.month() == 1 {
                let year = month.year() - 1;
                // Parks report by 20 January, tenants by 15 January: most on time.
                let day = if self.rng.random_bool(0.85) {
                    self.rng.random_range(8..20)
                } else {
                    self.rng.random_range(21..45)
                };
                self.push(
                    at_local(month + Duration::days(day - 1), 120),
                    Step::ParkAnnualReport { year },
                );
                for tenant in 0..self.tenants.len() {
                    let day = if self.rng.random_bool(0.9) {
                        self.rng.random_range(2..15)
                    } else {
                        self.rng.random_range(16..70)
                    };
                    let at = at_local(
                        month + Duration::days(day - 1),
                        self.rng.random_range(0..540),
                    );
                    self.push(at, Step::TenantAnnualReport { tenant, year });
                }
                if self.code().starts_with("VSIP") {
                    let at = at_local(month + Duration::days(40), 200);
                    self.push(at, Step::EcoParkEvidence);
                }
            }
        }
    }

    /// Schedules the province's own acts.
    fn plan_province(&mut self, months: &[NaiveDate]) {
        for &month in months {
            if month.month() == 1 {
                self.push(
                    at_local(month + Duration::days(9), 60),
                    Step::AnnualTasks { year: month.year() },
                );
            }
            if month.month() % 3 == 2 {
                let day = self.rng.random_range(0..25);
                self.push(at_local(month + Duration::days(day), 90), Step::Training);
            }
            if month.month() % 6 == 3 {
                let day = self.rng.random_range(0..25);
                self.push(at_local(month + Duration::days(day), 150), Step::Guidance);
            }
        }
        let first = NaiveDate::from_ymd_opt(2025, 4, 11).expect("a date");
        self.push(at_local(first, 120), Step::SignAgreement { second: false });
        let second = NaiveDate::from_ymd_opt(2025, 10, 15).expect("a date");
        self.push(at_local(second, 120), Step::SignAgreement { second: true });
    }

    async fn run(mut self, reached: Arc<Barrier>, done: Arc<Barrier>) -> anyhow::Result<Collected> {
        let merger = at_local(self.world.merger, -8 * 60);
        let mut passed = false;
        while let Some(Reverse(item)) = self.queue.pop() {
            if !passed && item.at >= merger {
                reached.wait().await;
                done.wait().await;
                passed = true;
            }
            if local(item.at) > self.world.end {
                continue;
            }
            let what = format!("{:?} at {}", item.step, item.at);
            self.step(item.at, item.step)
                .await
                .with_context(|| format!("park {:?}: {what}", self.park.map(|_| self.code())))?;
        }
        if !passed {
            reached.wait().await;
            done.wait().await;
        }
        Ok(self.collected)
    }

    #[allow(clippy::too_many_lines)]
    async fn step(&mut self, at: DateTime<Utc>, step: Step) -> anyhow::Result<()> {
        let sender = self.world.sender.clone();
        let (board, board_id) = self.board(at);
        match step {
            Step::BoardRequest | Step::CompanyRequest => {
                let by_board = matches!(step, Step::BoardRequest);
                let subject = if by_board {
                    SUBJECTS.choose(&mut self.rng)
                } else {
                    COMPANY_SUBJECTS.choose(&mut self.rng)
                }
                .copied()
                .unwrap_or("Thông tin");
                let due = self
                    .rng
                    .random_bool(0.7)
                    .then(|| timestamp(at + Duration::days(10)));
                let (from, to, channel) = if by_board {
                    (self.board_ref(at), self.company_ref(), board.clone())
                } else {
                    (self.company_ref(), self.board_ref(at), self.company())
                };
                let request = proto::RequestInformationRequest {
                    header: self.header(at),
                    from: Some(from),
                    to: Some(to),
                    park_id: self.park_id(),
                    subject: subject.to_owned(),
                    body: format!(
                        "Đề nghị cung cấp: {} ({}).",
                        subject.to_lowercase(),
                        self.code()
                    ),
                    due_at: due,
                };
                let client = client!(InformationExchangeServiceClient, channel);
                let exchange = id_of(
                    sender
                        .send("RequestInformation", || {
                            let mut c = client.clone();
                            let r = request.clone();
                            async move { c.request_information(r).await }
                        })
                        .await?
                        .outcome,
                )?;
                self.collected.exchanges.push(exchange.clone());
                let withdraw = self.rng.random_bool(0.03);
                let when = if withdraw {
                    Some(self.later(at, 3))
                } else {
                    None
                };
                // A withdrawal is sent at once, not queued: one after the history's end (which a
                // large --events reaches near it) would lie in the future, so it is not made.
                if let Some(when) = when.filter(|w| local(*w) <= self.world.end) {
                    let request = proto::WithdrawExchangeRequest {
                        header: self.header(when),
                        exchange_id: exchange,
                        reason: "Thông tin đã được cung cấp qua kênh khác".into(),
                    };
                    sender
                        .send("WithdrawExchange", || {
                            let mut c = client.clone();
                            let r = request.clone();
                            async move { c.withdraw_exchange(r).await }
                        })
                        .await?;
                    return Ok(());
                }
                let days = if self.rng.random_bool(0.8) {
                    self.rng.random_range(1..9)
                } else {
                    self.rng.random_range(11..25)
                };
                let when = self.later(at, days);
                let clarify = self.rng.random_bool(0.15);
                let close = self.rng.random_bool(0.85);
                self.push(
                    when,
                    Step::Answer {
                        exchange,
                        by_board,
                        clarify,
                        close,
                    },
                );
            }
            Step::Answer {
                exchange,
                by_board,
                clarify,
                close,
            } => {
                let channel = if by_board {
                    self.company()
                } else {
                    board.clone()
                };
                let name = format!("TraLoi_{}_{}.pdf", self.code(), self.commands);
                let request = proto::ProvideInformationRequest {
                    header: self.header(at),
                    exchange_id: exchange.clone(),
                    body: "Kính gửi số liệu và hồ sơ kèm theo.".into(),
                    attachments: vec![proto::Attachment {
                        name,
                        sha256: hex(&mut self.rng),
                    }],
                };
                let client = client!(InformationExchangeServiceClient, channel);
                sender
                    .send("ProvideInformation", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.provide_information(r).await }
                    })
                    .await?;
                if clarify {
                    let when = self.later(at, 1);
                    self.push(
                        when,
                        Step::Clarify {
                            exchange,
                            by_board,
                            close,
                        },
                    );
                } else if close {
                    let when = self.later_in(at, 1..4);
                    self.push(when, Step::Close { exchange, by_board });
                }
            }
            Step::Clarify {
                exchange,
                by_board,
                close,
            } => {
                let channel = if by_board {
                    board.clone()
                } else {
                    self.company()
                };
                let request = proto::RequestClarificationRequest {
                    header: self.header(at),
                    exchange_id: exchange.clone(),
                    question: "Đề nghị làm rõ số liệu tháng gần nhất.".into(),
                };
                let client = client!(InformationExchangeServiceClient, channel);
                sender
                    .send("RequestClarification", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.request_clarification(r).await }
                    })
                    .await?;
                let when = self.later_in(at, 2..6);
                self.push(
                    when,
                    Step::Answer {
                        exchange,
                        by_board,
                        clarify: false,
                        close,
                    },
                );
            }
            Step::Close { exchange, by_board } => {
                let channel = if by_board {
                    board.clone()
                } else {
                    self.company()
                };
                let request = proto::CloseExchangeRequest {
                    header: self.header(at),
                    exchange_id: exchange,
                    note: String::new(),
                };
                let client = client!(InformationExchangeServiceClient, channel);
                sender
                    .send("CloseExchange", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.close_exchange(r).await }
                    })
                    .await?;
            }
            Step::Exceedance => {
                let (parameter, unit, limit, value) = match self.rng.random_range(0..10) {
                    0..=3 => ("COD", "mg/L", 150.0, self.rng.random_range(155.0..420.0)),
                    4..=6 => ("TSS", "mg/L", 100.0, self.rng.random_range(105.0..260.0)),
                    7 => ("PH", "pH", 9.0, self.rng.random_range(9.1..10.5)),
                    8 => ("AMMONIUM", "mg/L", 10.0, self.rng.random_range(10.5..35.0)),
                    _ => ("COLOR", "Pt-Co", 150.0, self.rng.random_range(160.0..400.0)),
                };
                let parameter = proto::MonitoringParameter::from_str_name(&format!(
                    "MONITORING_PARAMETER_{parameter}"
                ))
                .unwrap_or(proto::MonitoringParameter::Cod);
                let request = proto::ReceiveExceedanceRequest {
                    header: self.header(at),
                    park_id: self.park_id(),
                    station_id: format!("{}-WW-01", self.code()),
                    parameter: parameter as i32,
                    value: format!("{value:.1}"),
                    unit: unit.into(),
                    limit: format!("{limit}"),
                    standard_ref: "QCVN 40:2011/BTNMT, cột B".into(),
                    measured_at: Some(timestamp(at - Duration::minutes(5))),
                    ..Default::default()
                };
                let client = client!(MonitoringServiceClient, self.world.callers.integration);
                let alert = id_of(
                    sender
                        .send("ReceiveExceedance", || {
                            let mut c = client.clone();
                            let r = request.clone();
                            async move { c.receive_exceedance(r).await }
                        })
                        .await?
                        .outcome,
                )?;
                self.collected.alerts.push(alert.clone());
                match self.rng.random_range(0..100) {
                    0..=69 => {
                        let when = self.later_in(at, 0..7);
                        self.push(
                            when,
                            Step::ResolveAlert {
                                alert,
                                reason: "Đã kiểm tra: hệ thống xử lý vận hành trở lại bình thường",
                            },
                        );
                    }
                    70..=84 => {
                        // An unannounced inspection of the park's tenants, on these grounds.
                        let when = self.later(at, 1);
                        let grounds = format!(
                            "Cảnh báo quan trắc tự động vượt ngưỡng {} ngày {}",
                            parameter.as_str_name(),
                            local(at)
                        );
                        self.push(when, Step::FollowUp { alert, grounds });
                    }
                    // Never followed up: question 5's answers.
                    _ => {}
                }
            }
            Step::FollowUp { alert, grounds } => {
                let inspection = self
                    .plan_inspection(at, proto::InspectionKind::Unannounced)
                    .await?;
                if let Some((inspection, tenants, start)) = inspection {
                    let later = self.later(at, 0);
                    self.push(
                        later,
                        Step::Decide {
                            inspection: inspection.clone(),
                            tenants,
                            grounds: Some(grounds),
                            start,
                        },
                    );
                    let later = self.later(at, 2);
                    self.push(
                        later,
                        Step::ResolveAlert {
                            alert: format!("{alert}|{inspection}"),
                            reason: "Đã tổ chức kiểm tra đột xuất",
                        },
                    );
                }
            }
            Step::Interruption => {
                let request = proto::ReportTransmissionInterruptedRequest {
                    header: self.header(at),
                    park_id: self.park_id(),
                    station_id: format!("{}-WW-01", self.code()),
                    last_data_at: Some(timestamp(at - Duration::minutes(30))),
                    reason: "Mất kết nối đường truyền".into(),
                    ..Default::default()
                };
                let client = client!(MonitoringServiceClient, self.world.callers.integration);
                let alert = id_of(
                    sender
                        .send("ReportTransmissionInterrupted", || {
                            let mut c = client.clone();
                            let r = request.clone();
                            async move { c.report_transmission_interrupted(r).await }
                        })
                        .await?
                        .outcome,
                )?;
                self.collected.alerts.push(alert.clone());
                if self.rng.random_bool(0.9) {
                    let when = at + Duration::hours(self.rng.random_range(2..48));
                    self.push(when, Step::Restore { alert });
                }
            }
            Step::Restore { alert } => {
                let request = proto::ReportTransmissionRestoredRequest {
                    header: self.header(at),
                    alert_id: alert.clone(),
                    note: String::new(),
                };
                let client = client!(MonitoringServiceClient, self.world.callers.integration);
                sender
                    .send("ReportTransmissionRestored", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.report_transmission_restored(r).await }
                    })
                    .await?;
                if self.rng.random_bool(0.3) {
                    let when = self.later(at, 1);
                    self.push(
                        when,
                        Step::ResolveAlert {
                            alert,
                            reason: "Đường truyền đã khôi phục, số liệu đã bù",
                        },
                    );
                }
            }
            Step::ResolveAlert { alert, reason } => {
                let (alert, inspection) = match alert.split_once('|') {
                    Some((a, i)) => (a.to_owned(), i.to_owned()),
                    None => (alert, String::new()),
                };
                let request = proto::ResolveAlertRequest {
                    header: self.header(at),
                    alert_id: alert,
                    inspection_id: inspection,
                    incident_id: String::new(),
                    reason: reason.into(),
                };
                let client = client!(MonitoringServiceClient, board);
                sender
                    .send("ResolveAlert", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.resolve_alert(r).await }
                    })
                    .await?;
            }
            Step::PlannedInspection => {
                if let Some((inspection, tenants, start)) = self
                    .plan_inspection(at, proto::InspectionKind::Planned)
                    .await?
                {
                    let when = self.later(at, 2);
                    self.push(
                        when,
                        Step::Decide {
                            inspection,
                            tenants,
                            grounds: None,
                            start,
                        },
                    );
                }
            }
            Step::Decide {
                inspection,
                tenants,
                grounds,
                start,
            } => {
                let year = local(at).year();
                let request = proto::IssueInspectionDecisionRequest {
                    header: self.header(at),
                    inspection_id: inspection.clone(),
                    decision_no: format!("{}/QĐ-BQL-{year}", self.commands),
                    issued_on: String::new(),
                    grounds: grounds.clone().unwrap_or_default(),
                };
                let client = client!(InspectionServiceClient, board);
                sender
                    .send("IssueInspectionDecision", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.issue_inspection_decision(r).await }
                    })
                    .await?;
                if grounds.is_some() {
                    let when = self.later(at, 0);
                    self.push(
                        when,
                        Step::Start {
                            inspection,
                            tenants,
                        },
                    );
                } else {
                    // Within the five days, mostly.
                    let days = if self.rng.random_bool(0.9) {
                        self.rng.random_range(1..6)
                    } else {
                        self.rng.random_range(6..10)
                    };
                    let when = self.later(at, days);
                    self.push(
                        when,
                        Step::Deliver {
                            inspection,
                            tenants,
                            start,
                        },
                    );
                }
            }
            Step::Deliver {
                inspection,
                tenants,
                start,
            } => {
                let ids = tenants
                    .iter()
                    .map(|&t| self.tenants[t].id.clone())
                    .collect();
                let request = proto::DeliverInspectionDecisionRequest {
                    header: self.header(at),
                    inspection_id: inspection.clone(),
                    tenant_ids: ids,
                    delivered_on: String::new(),
                    recipient: "Giám đốc doanh nghiệp".into(),
                };
                let client = client!(InspectionServiceClient, board);
                sender
                    .send("DeliverInspectionDecision", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.deliver_inspection_decision(r).await }
                    })
                    .await?;
                let day = start.max(local(at) + Duration::days(1));
                let when = at_local(day, self.rng.random_range(0..120));
                self.push(
                    when,
                    Step::Start {
                        inspection,
                        tenants,
                    },
                );
            }
            Step::Start {
                inspection,
                tenants,
            } => {
                let request = proto::StartInspectionRequest {
                    header: self.header(at),
                    inspection_id: inspection.clone(),
                    started_on: String::new(),
                };
                let client = client!(InspectionServiceClient, board);
                sender
                    .send("StartInspection", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.start_inspection(r).await }
                    })
                    .await?;
                let several = tenants.len() > 1;
                let (base, over) = if several { (30, 15) } else { (7, 7) };
                let long = self.rng.random_bool(0.1);
                let extended = self.rng.random_bool(0.1);
                let mut days: i64 = if long {
                    base + self.rng.random_range(1..5)
                } else {
                    self.rng.random_range(base / 2..=base)
                };
                if extended {
                    let when = self.later(at, days / 2);
                    self.push(
                        when,
                        Step::Extend {
                            inspection: inspection.clone(),
                        },
                    );
                    days += self.rng.random_range(1..=over);
                }
                let findings = self.rng.random_range(0..=3usize);
                let mut ids = Vec::new();
                for n in 1..=findings {
                    let tenant = tenants[self.rng.random_range(0..tenants.len())];
                    let when = self.later_in(at, 0..(days - 1).max(1));
                    self.push(
                        when,
                        Step::Finding {
                            inspection: inspection.clone(),
                            tenant,
                            n,
                        },
                    );
                    ids.push((format!("F{n}"), self.rng.random_bool(0.05)));
                }
                let when = self.later(at, days - 1);
                self.push(
                    when,
                    Step::Conclude {
                        inspection,
                        findings: ids,
                    },
                );
            }
            Step::Extend { inspection } => {
                let request = proto::ExtendInspectionRequest {
                    header: self.header(at),
                    inspection_id: inspection,
                    days: self.rng.random_range(3..=7),
                    reason: "Cần thêm thời gian lấy mẫu, phân tích".into(),
                    decision_no: String::new(),
                };
                let client = client!(InspectionServiceClient, board);
                sender
                    .send("ExtendInspection", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.extend_inspection(r).await }
                    })
                    .await?;
            }
            Step::Finding {
                inspection,
                tenant,
                n,
            } => {
                let severity = match self.rng.random_range(0..100) {
                    0..=69 => proto::FindingSeverity::Minor,
                    70..=94 => proto::FindingSeverity::Major,
                    _ => proto::FindingSeverity::Critical,
                };
                let tenant = self.tenants[tenant].clone();
                let commitment = if self.rng.random_bool(0.5) {
                    tenant.commitment.clone()
                } else {
                    String::new()
                };
                let request = proto::RecordFindingRequest {
                    header: self.header(at),
                    inspection_id: inspection,
                    finding_id: format!("F{n}"),
                    tenant_id: tenant.id,
                    requirement: "Nước thải phải được xử lý sơ bộ trước khi đấu nối về nhà máy xử lý tập trung".into(),
                    severity: severity as i32,
                    description: format!(
                        "Doanh nghiệp {} xả nước thải chưa đạt tiêu chuẩn đấu nối",
                        tenant.code
                    ),
                    commitment_id: commitment,
                };
                let client = client!(InspectionServiceClient, board);
                sender
                    .send("RecordFinding", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.record_finding(r).await }
                    })
                    .await?;
            }
            Step::Conclude {
                inspection,
                findings,
            } => {
                let request = proto::ConcludeInspectionRequest {
                    header: self.header(at),
                    inspection_id: inspection.clone(),
                    conclusion_no: format!("{}/KL-BQL", self.commands),
                    summary: format!("Kết luận kiểm tra: {} nội dung vi phạm.", findings.len()),
                    concluded_on: String::new(),
                };
                let client = client!(InspectionServiceClient, board);
                sender
                    .send("ConcludeInspection", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.conclude_inspection(r).await }
                    })
                    .await?;
                if findings.is_empty() {
                    let when = self.later(at, 2);
                    self.push(when, Step::CloseInspection { inspection });
                    return Ok(());
                }
                // Most inspections see every remediation verified, then close after the last.
                let verified_all = self.rng.random_bool(0.85);
                let mut last_verified = at;
                for (finding, refer) in findings {
                    let when = self.later(at, 1);
                    let verify_at = verified_all.then(|| self.later_in(when, 20..40));
                    if let Some(v) = verify_at {
                        last_verified = last_verified.max(v);
                    }
                    self.push(
                        when,
                        Step::Remediate {
                            inspection: inspection.clone(),
                            finding: finding.clone(),
                            verify_at,
                        },
                    );
                    if refer {
                        let when = self.later(at, 3);
                        self.push(
                            when,
                            Step::Refer {
                                inspection: inspection.clone(),
                                finding,
                            },
                        );
                    }
                }
                if verified_all {
                    let when = self.later(last_verified, 2);
                    self.push(when, Step::CloseInspection { inspection });
                }
            }
            Step::Remediate {
                inspection,
                finding,
                verify_at,
            } => {
                let due = local(at) + Duration::days(30);
                let request = proto::RequireRemediationRequest {
                    header: self.header(at),
                    inspection_id: inspection.clone(),
                    finding_id: finding.clone(),
                    due_on: due.to_string(),
                    action: "Khắc phục hệ thống xử lý nước thải sơ bộ, báo cáo kết quả".into(),
                };
                let client = client!(InspectionServiceClient, board);
                sender
                    .send("RequireRemediation", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.require_remediation(r).await }
                    })
                    .await?;
                if let Some(when) = verify_at {
                    self.push(
                        when,
                        Step::VerifyRemediation {
                            inspection,
                            finding,
                        },
                    );
                }
            }
            Step::VerifyRemediation {
                inspection,
                finding,
            } => {
                let request = proto::VerifyRemediationRequest {
                    header: self.header(at),
                    inspection_id: inspection.clone(),
                    finding_id: finding,
                    note: "Đã kiểm tra lại: đạt yêu cầu".into(),
                };
                let client = client!(InspectionServiceClient, board);
                sender
                    .send("VerifyRemediation", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.verify_remediation(r).await }
                    })
                    .await?;
            }
            Step::Refer {
                inspection,
                finding,
            } => {
                let request = proto::ReferForSanctionRequest {
                    header: self.header(at),
                    inspection_id: inspection,
                    finding_id: finding,
                    authority_id: board_id.clone(),
                    reason: "Vi phạm nghiêm trọng, đề nghị xử phạt theo Nghị định 45/2022/NĐ-CP"
                        .into(),
                };
                let client = client!(InspectionServiceClient, board);
                sender
                    .send("ReferForSanction", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.refer_for_sanction(r).await }
                    })
                    .await?;
            }
            Step::CloseInspection { inspection } => {
                let request = proto::CloseInspectionRequest {
                    header: self.header(at),
                    inspection_id: inspection,
                    note: String::new(),
                };
                let client = client!(InspectionServiceClient, board);
                sender
                    .send("CloseInspection", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.close_inspection(r).await }
                    })
                    .await?;
            }
            Step::Incident => {
                let (kind, description, location) = match self.rng.random_range(0..100) {
                    0..=39 => (
                        proto::IncidentKind::Overflow,
                        "Nước thải tràn ra hệ thống thoát nước mưa sau mưa lớn",
                        "Hố ga thu nước thải, đường số 5",
                    ),
                    40..=64 => (
                        proto::IncidentKind::Spill,
                        "Rò rỉ thùng chứa nguyên liệu, hóa chất chảy vào cống",
                        "Kho nguyên liệu của doanh nghiệp thứ cấp",
                    ),
                    65..=84 => (
                        proto::IncidentKind::Emission,
                        "Bọt trắng dày trên suối tiếp nhận, nghi chất hoạt động bề mặt",
                        "Cống xả ra suối",
                    ),
                    85..=94 => (
                        proto::IncidentKind::Fire,
                        "Cháy kho phế liệu, khói lan rộng",
                        "Khu tập kết chất thải rắn",
                    ),
                    _ => (
                        proto::IncidentKind::Other,
                        "Mùi hôi bất thường tại khu vực nhà máy xử lý",
                        "Nhà máy xử lý nước thải tập trung",
                    ),
                };
                let detected = at - Duration::minutes(self.rng.random_range(30..360));
                let tenant = if !self.tenants.is_empty() && self.rng.random_bool(0.6) {
                    self.tenants[self.rng.random_range(0..self.tenants.len())]
                        .id
                        .clone()
                } else {
                    String::new()
                };
                let request = proto::ReportIncidentRequest {
                    header: self.header(at),
                    park_id: self.park_id(),
                    tenant_id: tenant,
                    kind: kind as i32,
                    detected_at: Some(timestamp(detected)),
                    location: location.into(),
                    description: description.into(),
                    reported_by: Some(self.company_ref()),
                };
                let client = client!(IncidentServiceClient, self.company());
                let incident = id_of(
                    sender
                        .send("ReportIncident", || {
                            let mut c = client.clone();
                            let r = request.clone();
                            async move { c.report_incident(r).await }
                        })
                        .await?
                        .outcome,
                )?;
                self.collected.incidents.push(incident.clone());
                // Notified within the agreement's hours, mostly.
                let notify = if self.rng.random_bool(0.8) {
                    detected + Duration::minutes(self.rng.random_range(60..200))
                } else {
                    detected + Duration::hours(self.rng.random_range(6..30))
                };
                self.push(
                    notify.max(at + Duration::minutes(10)),
                    Step::Notify {
                        incident: incident.clone(),
                    },
                );
                self.push(
                    at + Duration::hours(3),
                    Step::Classify {
                        incident: incident.clone(),
                    },
                );
                for (i, action) in RESPONSES
                    .iter()
                    .take(self.rng.random_range(1..4))
                    .enumerate()
                {
                    self.push(
                        at + Duration::hours(4 + i as i64),
                        Step::Respond {
                            incident: incident.clone(),
                            action,
                        },
                    );
                }
                if self.rng.random_bool(0.1) {
                    self.push(
                        at + Duration::hours(8),
                        Step::Escalate {
                            incident: incident.clone(),
                        },
                    );
                }
                let contained = at + Duration::hours(self.rng.random_range(12..48));
                self.push(
                    contained,
                    Step::Contain {
                        incident: incident.clone(),
                    },
                );
                let resolved = contained + Duration::days(self.rng.random_range(2..10));
                self.push(
                    resolved,
                    Step::Resolve {
                        incident: incident.clone(),
                    },
                );
                if self.rng.random_bool(0.8) {
                    let reviewed = self.later_in(resolved, 7..30);
                    self.push(
                        reviewed,
                        Step::Review {
                            incident: incident.clone(),
                        },
                    );
                }
                if self.rng.random_bool(0.5) {
                    let when = self.later(resolved, 1);
                    self.push(when, Step::PostCheck);
                }
            }
            Step::PostCheck => {
                if let Some((inspection, tenants, start)) = self
                    .plan_inspection(at, proto::InspectionKind::PostCheck)
                    .await?
                {
                    let later = self.later(at, 1);
                    self.push(
                        later,
                        Step::Decide {
                            inspection,
                            tenants,
                            grounds: None,
                            start,
                        },
                    );
                }
            }
            Step::Classify { incident } => {
                let level = match self.rng.random_range(0..10) {
                    0..=6 => proto::IncidentLevel::Facility,
                    // Districts ceased on 2025-07-01; communes took their incidents.
                    7..=8 if local(at) < super::date((2025, 7, 1)) => {
                        proto::IncidentLevel::District
                    }
                    7..=8 => proto::IncidentLevel::Commune,
                    _ => proto::IncidentLevel::Provincial,
                };
                let request = proto::ClassifyIncidentRequest {
                    header: self.header(at),
                    incident_id: incident,
                    level: level as i32,
                    scheme_version: "NĐ 08/2022".into(),
                    rationale: String::new(),
                };
                let client = client!(IncidentServiceClient, self.company());
                sender
                    .send("ClassifyIncident", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.classify_incident(r).await }
                    })
                    .await?;
            }
            Step::Notify { incident } => {
                let request = proto::SendIncidentNotificationRequest {
                    header: self.header(at),
                    incident_id: incident,
                    sender: Some(self.company_ref()),
                    recipient_authority_id: board_id.clone(),
                    recipient: "Phòng Quản lý môi trường".into(),
                    channel: proto::NotificationChannel::Phone as i32,
                    sent_at: None,
                    message: String::new(),
                };
                let client = client!(IncidentServiceClient, self.company());
                sender
                    .send("SendIncidentNotification", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.send_incident_notification(r).await }
                    })
                    .await?;
            }
            Step::Respond { incident, action } => {
                let request = proto::TakeResponseActionRequest {
                    header: self.header(at),
                    incident_id: incident,
                    action: action.into(),
                    by: "Đội ứng phó sự cố của công ty hạ tầng".into(),
                };
                let client = client!(IncidentServiceClient, self.company());
                sender
                    .send("TakeResponseAction", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.take_response_action(r).await }
                    })
                    .await?;
            }
            Step::Escalate { incident } => {
                let request = proto::EscalateIncidentRequest {
                    header: self.header(at),
                    incident_id: incident,
                    authority_id: board_id.clone(),
                    reason: "Vượt khả năng ứng phó của công ty hạ tầng".into(),
                };
                let client = client!(IncidentServiceClient, self.company());
                sender
                    .send("EscalateIncident", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.escalate_incident(r).await }
                    })
                    .await?;
            }
            Step::Contain { incident } => {
                let request = proto::ContainIncidentRequest {
                    header: self.header(at),
                    incident_id: incident,
                    note: String::new(),
                };
                let client = client!(IncidentServiceClient, self.company());
                sender
                    .send("ContainIncident", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.contain_incident(r).await }
                    })
                    .await?;
            }
            Step::Resolve { incident } => {
                let request = proto::ResolveIncidentRequest {
                    header: self.header(at),
                    incident_id: incident,
                    summary: "Đã khắc phục, môi trường tiếp nhận trở lại bình thường".into(),
                };
                let client = client!(IncidentServiceClient, self.company());
                sender
                    .send("ResolveIncident", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.resolve_incident(r).await }
                    })
                    .await?;
            }
            Step::Review { incident } => {
                let request = proto::ReviewIncidentRequest {
                    header: self.header(at),
                    incident_id: incident,
                    lessons: "Tăng tần suất kiểm tra hố ga, bổ sung bồn chứa sự cố".into(),
                };
                let client = client!(IncidentServiceClient, board);
                sender
                    .send("ReviewIncident", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.review_incident(r).await }
                    })
                    .await?;
            }
            Step::Consultation => {
                let industry = self.world.province.industry(&mut self.rng).clone();
                let vsic = industry
                    .codes
                    .choose(&mut self.rng)
                    .cloned()
                    .unwrap_or_else(|| "25".into());
                let foreign = self.rng.random_bool(0.784);
                let name = reference::tenant_name(
                    &mut self.rng,
                    &industry,
                    foreign,
                    self.commands as usize,
                );
                let level = match self.rng.random_range(0..10) {
                    0..=5 => proto::PollutionLevel::None,
                    6..=8 => proto::PollutionLevel::Iii,
                    _ => proto::PollutionLevel::Ii,
                };
                let request = proto::OpenConsultationRequest {
                    header: self.header(at),
                    park_id: self.park_id(),
                    company_id: self.company_id(),
                    prospective_investor: name.clone(),
                    project: format!("Nhà máy {}", industry.name.to_lowercase()),
                    vsic_code: Some(proto::VsicCode {
                        code: vsic.clone(),
                        version: "2018".into(),
                    }),
                    pollution_level: level as i32,
                    capacity: Some(proto::Capacity {
                        value: format!("{}", self.rng.random_range(1..500) * 100),
                        unit: "tấn/năm".into(),
                    }),
                };
                let client = client!(IndustryConsultationServiceClient, self.company());
                let consultation = id_of(
                    sender
                        .send("OpenConsultation", || {
                            let mut c = client.clone();
                            let r = request.clone();
                            async move { c.open_consultation(r).await }
                        })
                        .await?
                        .outcome,
                )?;
                self.collected.consultations.push(consultation.clone());
                let when = self.later(at, 1);
                self.push(
                    when,
                    Step::Opinion {
                        consultation: consultation.clone(),
                        vsic: vsic.clone(),
                    },
                );
                if self.rng.random_bool(0.05) {
                    let when = self.later(at, 4);
                    self.push(
                        when,
                        Step::NewTenant {
                            consultation,
                            vsic,
                            name: String::new(),
                        },
                    );
                } else {
                    let days = if self.rng.random_bool(0.85) {
                        self.rng.random_range(3..15)
                    } else {
                        self.rng.random_range(16..40)
                    };
                    let when = self.later(at, days);
                    self.push(
                        when,
                        Step::Determine {
                            consultation: format!("{consultation}|{name}"),
                            vsic,
                        },
                    );
                }
            }
            Step::Opinion { consultation, vsic } => {
                let request = proto::SubmitCompanyOpinionRequest {
                    header: self.header(at),
                    consultation_id: consultation,
                    opinion: format!(
                        "Ngành {vsic} phù hợp quy hoạch phân khu; hạ tầng xử lý nước thải đáp ứng."
                    ),
                    attachments: Vec::new(),
                };
                let client = client!(IndustryConsultationServiceClient, self.company());
                sender
                    .send("SubmitCompanyOpinion", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.submit_company_opinion(r).await }
                    })
                    .await?;
            }
            Step::Determine { consultation, vsic } => {
                let (consultation, name) = consultation
                    .split_once('|')
                    .map(|(c, n)| (c.to_owned(), n.to_owned()))
                    .unwrap_or_default();
                let (determination, conditions) = match self.rng.random_range(0..10) {
                    0..=6 => (proto::Suitability::Suitable, vec![]),
                    7..=8 => (
                        proto::Suitability::Conditional,
                        vec![
                            "Xử lý sơ bộ nước thải đạt giới hạn tiếp nhận trước khi đấu nối"
                                .to_owned(),
                        ],
                    ),
                    _ => (proto::Suitability::Unsuitable, vec![]),
                };
                let request = proto::DetermineSuitabilityRequest {
                    header: self.header(at),
                    consultation_id: consultation.clone(),
                    determination: determination as i32,
                    conditions,
                    rationale: format!(
                        "Đối chiếu quy hoạch và điều kiện môi trường của khu đối với ngành {vsic}."
                    ),
                    legal_basis: "Nghị định 35/2022/NĐ-CP".into(),
                    decided_on: String::new(),
                    document_no: String::new(),
                };
                let client = client!(IndustryConsultationServiceClient, board);
                sender
                    .send("DetermineSuitability", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.determine_suitability(r).await }
                    })
                    .await?;
                if determination != proto::Suitability::Unsuitable && self.rng.random_bool(0.7) {
                    let when = self.later_in(at, 20..90);
                    self.push(
                        when,
                        Step::NewTenant {
                            consultation,
                            vsic,
                            name,
                        },
                    );
                }
            }
            Step::NewTenant {
                consultation,
                vsic,
                name,
            } => {
                let client = client!(IndustryConsultationServiceClient, self.company());
                if name.is_empty() {
                    let request = proto::WithdrawConsultationRequest {
                        header: self.header(at),
                        consultation_id: consultation,
                        reason: "Nhà đầu tư không tiếp tục dự án".into(),
                    };
                    sender
                        .send("WithdrawConsultation", || {
                            let mut c = client.clone();
                            let r = request.clone();
                            async move { c.withdraw_consultation(r).await }
                        })
                        .await?;
                    return Ok(());
                }
                let n = self.tenants.len();
                let foreign = self.rng.random_bool(0.784);
                let company = self.company();
                let tenant = self
                    .register_tenant(at, &name, vsic, foreign, n, company)
                    .await?;
                let request = proto::LinkConsultationToTenantRequest {
                    header: self.header(at + Duration::minutes(30)),
                    consultation_id: consultation,
                    tenant_id: tenant,
                };
                sender
                    .send("LinkConsultationToTenant", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.link_consultation_to_tenant(r).await }
                    })
                    .await?;
            }
            Step::Dossier => {
                if self.tenants.is_empty() {
                    return Ok(());
                }
                let tenant = self.tenants[self.rng.random_range(0..self.tenants.len())]
                    .id
                    .clone();
                let promised = *[15u32, 20, 30].choose(&mut self.rng).unwrap_or(&15);
                let request = proto::ReceiveDossierRequest {
                    header: self.header(at),
                    procedure_code: PROCEDURES
                        .choose(&mut self.rng)
                        .copied()
                        .unwrap_or("1.010727")
                        .into(),
                    authority_id: board_id.clone(),
                    tenant_id: tenant,
                    park_id: self.park_id(),
                    dossier_no: format!("HS-{}-{}", self.code(), self.commands),
                    received_on: String::new(),
                    promised_days: Some(promised),
                };
                let client = client!(ProcedureServiceClient, board);
                let dossier = id_of(
                    sender
                        .send("ReceiveDossier", || {
                            let mut c = client.clone();
                            let r = request.clone();
                            async move { c.receive_dossier(r).await }
                        })
                        .await?
                        .outcome,
                )?;
                self.collected.dossiers.push(dossier.clone());
                // Working days are about 7/5 calendar days; some dossiers run over.
                let days = if self.rng.random_bool(0.85) {
                    self.rng.random_range(3..i64::from(promised))
                } else {
                    i64::from(promised) * 7 / 5 + self.rng.random_range(3..15)
                };
                let when = self.later(at, days);
                self.push(when, Step::DecideDossier { dossier });
            }
            Step::DecideDossier { dossier } => {
                let outcome = match self.rng.random_range(0..20) {
                    0..=16 => proto::DossierOutcome::Approved,
                    17..=18 => proto::DossierOutcome::Returned,
                    _ => proto::DossierOutcome::Rejected,
                };
                let request = proto::DecideDossierRequest {
                    header: self.header(at),
                    dossier_id: dossier,
                    outcome: outcome as i32,
                    decided_on: String::new(),
                    decision_no: String::new(),
                    note: String::new(),
                };
                let client = client!(ProcedureServiceClient, board);
                sender
                    .send("DecideDossier", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.decide_dossier(r).await }
                    })
                    .await?;
            }
            Step::Quarterly => {
                let park = &self.world.province.parks[self.park.expect("a park")];
                let area: f64 = park.area_ha.parse().unwrap_or(150.0);
                let capacity = ((area * 20.0) as u32).max(500);
                let load = capacity * self.rng.random_range(55..95) / 100;
                let quarter_end = local(at).with_day(1).expect("day 1") - Duration::days(1);
                let request = proto::ReportEnvironmentalInfrastructureRequest {
                    header: self.header(at),
                    park_id: self.park_id(),
                    company_id: self.company_id(),
                    wastewater_capacity_m3_per_day: capacity,
                    wastewater_load_m3_per_day: Some(load),
                    monitoring_connected: true,
                    as_of: quarter_end.to_string(),
                };
                let client = client!(RegistryServiceClient, self.company());
                sender
                    .send("ReportEnvironmentalInfrastructure", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.report_environmental_infrastructure(r).await }
                    })
                    .await?;
                let rate = 93.77 + self.rng.random_range(-6.0..5.0f64);
                let request = proto::ReportOccupancyRequest {
                    header: self.header(at + Duration::minutes(5)),
                    park_id: self.park_id(),
                    company_id: self.company_id(),
                    rate_percent: format!("{:.2}", rate.min(100.0)),
                    as_of: quarter_end.to_string(),
                };
                sender
                    .send("ReportOccupancy", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.report_occupancy(r).await }
                    })
                    .await?;
            }
            Step::ParkAnnualReport { year } => {
                let request = proto::SubmitParkAnnualEnvironmentalReportRequest {
                    header: self.header(at),
                    park_id: self.park_id(),
                    year: u32::try_from(year).unwrap_or(2024),
                    company_id: self.company_id(),
                    submitted_on: String::new(),
                    document_sha256: hex(&mut self.rng),
                };
                let client = client!(RegistryServiceClient, self.company());
                sender
                    .send("SubmitParkAnnualEnvironmentalReport", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.submit_park_annual_environmental_report(r).await }
                    })
                    .await?;
            }
            Step::TenantAnnualReport { tenant, year } => {
                let request = proto::SubmitAnnualEnvironmentalReportRequest {
                    header: self.header(at),
                    tenant_id: self.tenants[tenant].id.clone(),
                    year: u32::try_from(year).unwrap_or(2024),
                    submitted_on: String::new(),
                };
                let client = client!(RegistryServiceClient, self.company());
                sender
                    .send("SubmitAnnualEnvironmentalReport", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.submit_annual_environmental_report(r).await }
                    })
                    .await?;
            }
            Step::EcoParkEvidence => {
                let request = proto::RecordEcoParkEvidenceRequest {
                    header: self.header(at),
                    park_id: self.park_id(),
                    criterion: "Tỷ lệ nước thải tái sử dụng".into(),
                    value: format!("{}%", self.rng.random_range(10..35)),
                    document_sha256: hex(&mut self.rng),
                };
                let client = client!(RegistryServiceClient, self.company());
                sender
                    .send("RecordEcoParkEvidence", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.record_eco_park_evidence(r).await }
                    })
                    .await?;
            }
            Step::AnnualTasks { year } => {
                let mut tasks = Vec::new();
                for (i, company) in self.world.companies.iter().enumerate().take(50) {
                    tasks.push(proto::AnnualTask {
                        task_id: format!("T{}", i + 1),
                        title: TASKS[i % TASKS.len()].into(),
                        description: None,
                        assignee_company_id: company.clone(),
                        park_id: None,
                        due_on: format!("{year}-12-15"),
                    });
                }
                let request = proto::IssueAnnualTasksRequest {
                    header: self.header(at),
                    authority_id: board_id.clone(),
                    year: u32::try_from(year).unwrap_or(2024),
                    issued_on: String::new(),
                    document_no: format!("{}/KH-BQL", self.commands),
                    tasks: tasks.clone(),
                };
                let client = client!(AnnualPlanServiceClient, board);
                let plan = id_of(
                    sender
                        .send("IssueAnnualTasks", || {
                            let mut c = client.clone();
                            let r = request.clone();
                            async move { c.issue_annual_tasks(r).await }
                        })
                        .await?
                        .outcome,
                )?;
                self.collected.plans.push(plan.clone());
                for (company, task) in tasks.iter().enumerate() {
                    // A task completed in December needs no fourth quarter's report.
                    let completed = self.rng.random_bool(0.8);
                    for quarter in 1..=if completed { 3 } else { 4u32 } {
                        let quarter_end = chrono::NaiveDate::from_ymd_opt(year, quarter * 3, 1)
                            .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
                            .expect("a date");
                        let day = if self.rng.random_bool(0.85) {
                            self.rng.random_range(1..14)
                        } else {
                            self.rng.random_range(16..40)
                        };
                        let when = at_local(quarter_end + Duration::days(day), 100);
                        self.push(
                            when,
                            Step::TaskProgress {
                                plan: plan.clone(),
                                task: task.task_id.clone(),
                                company,
                                quarter,
                                percent: (quarter * 25).min(100),
                            },
                        );
                    }
                    if completed {
                        let day = chrono::NaiveDate::from_ymd_opt(year, 12, 1).expect("a date")
                            + Duration::days(self.rng.random_range(0..20));
                        self.push(
                            at_local(day, 200),
                            Step::CompleteTask {
                                plan: plan.clone(),
                                task: task.task_id.clone(),
                            },
                        );
                    }
                }
            }
            Step::TaskProgress {
                plan,
                task,
                company,
                quarter,
                percent,
            } => {
                let request = proto::ReportTaskProgressRequest {
                    header: self.header(at),
                    plan_id: plan,
                    task_id: task,
                    percent,
                    note: String::new(),
                    quarter,
                };
                let client = client!(
                    AnnualPlanServiceClient,
                    self.world.callers.companies[company]
                );
                sender
                    .send("ReportTaskProgress", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.report_task_progress(r).await }
                    })
                    .await?;
            }
            Step::CompleteTask { plan, task } => {
                let request = proto::CompleteTaskRequest {
                    header: self.header(at),
                    plan_id: plan,
                    task_id: task,
                    completed_on: String::new(),
                    note: String::new(),
                };
                let client = client!(AnnualPlanServiceClient, board);
                sender
                    .send("CompleteTask", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.complete_task(r).await }
                    })
                    .await?;
            }
            Step::Training => {
                let parks: Vec<String> = self
                    .world
                    .parks
                    .choose_multiple(&mut self.rng, 6)
                    .cloned()
                    .collect();
                let request = proto::RecordLegalTrainingRequest {
                    header: self.header(at),
                    authority_id: board_id.clone(),
                    topic: TRAININGS
                        .choose(&mut self.rng)
                        .copied()
                        .unwrap_or(TRAININGS[0])
                        .into(),
                    held_on: String::new(),
                    audience: "Cán bộ môi trường của công ty hạ tầng và doanh nghiệp thứ cấp"
                        .into(),
                    attendee_count: self.rng.random_range(40..300),
                    park_ids: parks,
                };
                let client = client!(DisseminationServiceClient, board);
                sender
                    .send("RecordLegalTraining", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.record_legal_training(r).await }
                    })
                    .await?;
            }
            Step::Guidance => {
                let request = proto::IssueGuidanceRequest {
                    header: self.header(at),
                    authority_id: board_id.clone(),
                    doc_no: format!("{}/HD-BQL", self.commands),
                    title: "Hướng dẫn kiểm soát nước thải trước khi đấu nối".into(),
                    document_sha256: hex(&mut self.rng),
                    issued_on: String::new(),
                    park_ids: Vec::new(),
                };
                let client = client!(DisseminationServiceClient, board);
                sender
                    .send("IssueGuidance", || {
                        let mut c = client.clone();
                        let r = request.clone();
                        async move { c.issue_guidance(r).await }
                    })
                    .await?;
            }
            Step::SignAgreement { second } => {
                let levels = proto::ServiceLevels {
                    incident_notification_hours: 4,
                    information_answer_days: 10,
                    infrastructure_information_days: Some(10),
                    consultation_answer_days: Some(15),
                    quarterly_report_due_day: Some(15),
                };
                let request = proto::SignAgreementRequest {
                    header: self.header(at),
                    authority_id: board_id.clone(),
                    company_ids: self.world.companies.clone(),
                    version: if second { "2" } else { "1" }.into(),
                    title: if second {
                        "Quy chế phối hợp quản lý môi trường các KCN (TP. Hồ Chí Minh)"
                    } else {
                        "Quy chế phối hợp bảo vệ môi trường trong các khu công nghiệp tỉnh Bình Dương"
                    }
                    .into(),
                    document_no: if second { "88/QCPH-BQL" } else { "12/QCPH-BQL" }.into(),
                    signed_on: String::new(),
                    effective_from: String::new(),
                    document_sha256: hex(&mut self.rng),
                    service_levels: Some(levels),
                };
                let client = client!(AgreementServiceClient, board);
                let agreement = id_of(
                    sender
                        .send("SignAgreement", || {
                            let mut c = client.clone();
                            let r = request.clone();
                            async move { c.sign_agreement(r).await }
                        })
                        .await?
                        .outcome,
                )?;
                self.collected.agreements.push(agreement.clone());
                if let (true, Some(old)) = (second, self.agreement.take()) {
                    let request = proto::SupersedeAgreementRequest {
                        header: self.header(at + Duration::minutes(10)),
                        agreement_id: old,
                        by: agreement.clone(),
                        effective_from: local(at).to_string(),
                    };
                    sender
                        .send("SupersedeAgreement", || {
                            let mut c = client.clone();
                            let r = request.clone();
                            async move { c.supersede_agreement(r).await }
                        })
                        .await?;
                }
                self.agreement = Some(agreement);
            }
        }
        Ok(())
    }

    /// Plans an inspection of one tenant, or of two to four (a several-entity inspection); answers
    /// its id, the tenants and the day it is planned for, or nothing when the park has no tenant.
    async fn plan_inspection(
        &mut self,
        at: DateTime<Utc>,
        kind: proto::InspectionKind,
    ) -> anyhow::Result<Option<(String, Vec<usize>, NaiveDate)>> {
        if self.tenants.is_empty() {
            return Ok(None);
        }
        let several = self.tenants.len() >= 4 && self.rng.random_bool(0.3);
        let n = if several {
            self.rng.random_range(2..=4)
        } else {
            1
        };
        let mut tenants: Vec<usize> = (0..self.tenants.len())
            .collect::<Vec<_>>()
            .choose_multiple(&mut self.rng, n)
            .copied()
            .collect();
        tenants.sort_unstable();
        let planned_for = local(at) + Duration::days(self.rng.random_range(7..20));
        let conducted_by = match self.rng.random_range(0..10) {
            0..=5 => proto::InspectionConductor::Board,
            6..=8 => proto::InspectionConductor::Joint,
            _ => proto::InspectionConductor::Company,
        };
        let (board, _) = self.board(at);
        let request = proto::PlanInspectionRequest {
            header: self.header(at),
            park_id: self.park_id(),
            tenant_ids: tenants
                .iter()
                .map(|&t| self.tenants[t].id.clone())
                .collect(),
            conducted_by: conducted_by as i32,
            kind: kind as i32,
            planned_for: planned_for.to_string(),
            scope: "Việc thực hiện cam kết bảo vệ môi trường và đấu nối nước thải".into(),
            incident_id: String::new(),
        };
        let client = client!(InspectionServiceClient, board);
        let inspection = id_of(
            self.world
                .sender
                .send("PlanInspection", || {
                    let mut c = client.clone();
                    let r = request.clone();
                    async move { c.plan_inspection(r).await }
                })
                .await?
                .outcome,
        )?;
        self.collected.inspections.push(inspection.clone());
        Ok(Some((inspection, tenants, planned_for)))
    }

    /// Registers a tenant with its permit and its commitment, as `channel` (the administrator at
    /// the registry's import, the park's company for a newcomer); answers its id.
    async fn register_tenant(
        &mut self,
        at: DateTime<Utc>,
        name: &str,
        vsic: String,
        foreign: bool,
        n: usize,
        channel: AuthChannel,
    ) -> anyhow::Result<String> {
        let park = self.park.expect("a park's queue");
        let code = format!("{}", 3_702_000_000u64 + park as u64 * 100_000 + n as u64);
        let request = proto::RegisterTenantRequest {
            header: self.header(at),
            park_id: self.park_id(),
            enterprise_code: code.clone(),
            name: name.to_owned(),
            investment_registration_no: format!(
                "{}",
                9_800_000_000u64 + park as u64 * 100_000 + n as u64
            ),
            vsic_codes: vec![proto::VsicCode {
                code: vsic,
                version: "2018".into(),
            }],
            foreign_invested: foreign,
        };
        let sender = self.world.sender.clone();
        let registry = client!(RegistryServiceClient, channel);
        let tenant = id_of(
            sender
                .send("RegisterTenant", || {
                    let mut c = registry.clone();
                    let r = request.clone();
                    async move { c.register_tenant(r).await }
                })
                .await?
                .outcome,
        )?;
        let (board, _) = self.board(at);
        let issued = local(at) - Duration::days(self.rng.random_range(30..2000));
        let request = proto::RecordEnvironmentalPermitRequest {
            header: self.header(at + Duration::minutes(5)),
            tenant_id: tenant.clone(),
            permit_no: format!("{}/GPMT-BQL", 100 + n),
            issuer: "Ban quản lý các khu công nghiệp Bình Dương".into(),
            valid_from: issued.to_string(),
            valid_to: (issued + Duration::days(3650)).to_string(),
        };
        let board_registry = client!(RegistryServiceClient, board);
        sender
            .send("RecordEnvironmentalPermit", || {
                let mut c = board_registry.clone();
                let r = request.clone();
                async move { c.record_environmental_permit(r).await }
            })
            .await?;
        let request = proto::RecordEnvironmentalCommitmentRequest {
            header: self.header(at + Duration::minutes(10)),
            tenant_id: tenant.clone(),
            commitment_id: "CK-1".into(),
            requirement: "Nước thải xử lý sơ bộ đạt giới hạn tiếp nhận của KCN trước khi đấu nối"
                .into(),
        };
        sender
            .send("RecordEnvironmentalCommitment", || {
                let mut c = board_registry.clone();
                let r = request.clone();
                async move { c.record_environmental_commitment(r).await }
            })
            .await?;
        self.tenants.push(Tenant {
            id: tenant.clone(),
            code,
            commitment: "CK-1".into(),
        });
        self.collected.tenants.push(tenant.clone());
        Ok(tenant)
    }
}

/// Registers the tenants, then runs every park's queue and the province's to the end, stopping
/// them all at the merger while the administrator records it.
pub(crate) async fn run(world: Arc<World>, tenants: usize, seed: u64) -> anyhow::Result<Generated> {
    let months = months(super::date(super::HISTORY_FROM), world.end);
    // Tenants by the parks' areas, at least one each.
    let areas: Vec<f64> = world
        .province
        .parks
        .iter()
        .map(|p| p.area_ha.parse().unwrap_or(150.0))
        .collect();
    let total: f64 = areas.iter().sum();
    let mut workers = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    for (park, area) in areas.iter().enumerate() {
        let share = ((tenants as f64 * area / total).round() as usize).max(1);
        let world = world.clone();
        set.spawn(async move {
            let mut worker = Worker::new(world.clone(), Some(park), Vec::new(), seed);
            let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(park as u64 * 7919));
            let admin = world.callers.admin.clone();
            for n in 0..share {
                let industry = world.province.industry(&mut rng).clone();
                let vsic = industry
                    .codes
                    .choose(&mut rng)
                    .cloned()
                    .unwrap_or_else(|| "25".into());
                // 2,509 of 3,198 published projects are foreign-invested.
                let foreign = rng.random_bool(2509.0 / 3198.0);
                let name = reference::tenant_name(&mut rng, &industry, foreign, n + 1);
                let day = super::date((2023, 1, 5)) + Duration::days(rng.random_range(0..50));
                let at = at_local(day, rng.random_range(0..520));
                worker
                    .register_tenant(at, &name, vsic, foreign, n, admin.clone())
                    .await?;
            }
            anyhow::Ok(worker)
        });
    }
    while let Some(worker) = set.join_next().await {
        workers.push(worker.context("a park's registration stopped")??);
    }
    workers.sort_by_key(|w| w.park);
    for worker in &mut workers {
        worker.plan_park(&months);
    }
    let mut province = Worker::new(world.clone(), None, Vec::new(), seed);
    province.plan_province(&months);
    workers.push(province);

    let reached = Arc::new(Barrier::new(workers.len() + 1));
    let done = Arc::new(Barrier::new(workers.len() + 1));
    let mut set = tokio::task::JoinSet::new();
    for worker in workers {
        set.spawn(worker.run(reached.clone(), done.clone()));
    }
    // Every queue stops at the merger; a queue that fails before it ends the run.
    tokio::select! {
        _ = reached.wait() => {}
        Some(failed) = set.join_next() => {
            set.abort_all();
            failed.context("a park's story stopped")??;
            anyhow::bail!("a park's story ended before the merger");
        }
    }
    let merged = merge(&world).await;
    if merged.is_err() {
        set.abort_all();
    }
    merged?;
    done.wait().await;
    let mut generated = Generated {
        board: world.board.clone(),
        successor: world.successor.clone(),
        companies: world.companies.clone(),
        parks: world.parks.clone(),
        ..Generated::default()
    };
    while let Some(collected) = set.join_next().await {
        let c = match collected.context("a park's story stopped")? {
            Ok(c) => c,
            Err(e) => {
                set.abort_all();
                return Err(e);
            }
        };
        generated.tenants.extend(c.tenants);
        generated.incidents.extend(c.incidents);
        generated.inspections.extend(c.inspections);
        generated.consultations.extend(c.consultations);
        generated.exchanges.extend(c.exchanges);
        generated.dossiers.extend(c.dossiers);
        generated.alerts.extend(c.alerts);
        generated.agreements.extend(c.agreements);
        generated.plans.extend(c.plans);
    }
    Ok(generated)
}

/// The merger, recorded by the administrator: the city's board succeeds Bình Dương's, and takes
/// every park's jurisdiction from that day.
async fn merge(world: &World) -> anyhow::Result<()> {
    let sender = &world.sender;
    let at = at_local(world.merger, -6 * 60);
    let registry = client!(RegistryServiceClient, world.callers.admin);
    sender
        .send("RecordAuthoritySuccession", || {
            let mut c = registry.clone();
            let r = proto::RecordAuthoritySuccessionRequest {
                header: sender.header("merger", at),
                authority_id: world.board.clone(),
                predecessors: vec![world.board.clone()],
                successor: world.successor.clone(),
                effective_date: world.merger.to_string(),
                legal_basis: "Nghị quyết 202/2025/QH15; Quyết định hợp nhất Ban quản lý của UBND TP. Hồ Chí Minh".into(),
            };
async move { c.record_authority_succession(r).await }
        })
        .await?;
    for (i, park) in world.parks.iter().enumerate() {
        sender
            .send("AssignJurisdiction after the merger", || {
                let mut c = registry.clone();
                let r = proto::AssignJurisdictionRequest {
                    header: sender.header(
                        &format!("merger-park-{i}"),
                        at + Duration::minutes(1 + i as i64),
                    ),
                    park_id: park.clone(),
                    authority_id: world.successor.clone(),
                    effective_from: world.merger.to_string(),
                };
                async move { c.assign_jurisdiction(r).await }
            })
            .await?;
    }
    Ok(())
}
