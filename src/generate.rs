//! A realistic province, generated deterministically from a seed and driven through the real
//! command path (gRPC, each act with the token of the role that performs it): the industrial parks
//! of Bình Dương with their infrastructure companies (`src/generate/data/parks.csv`), tenants in the
//! published mix (2,509 foreign-invested to 689 domestic) and industry shares
//! (`src/generate/data/industries.csv`), the April 2025 coordination agreement, the July 2025 merger
//! of Bình Dương's Board into Hồ Chí Minh City's, the city board's own agreement that supersedes it,
//! and coordination from 2023 to last month at realistic rates with realistic lateness:
//! information exchanges (a fifth answered late), consultations on industries, planned and
//! unannounced inspections (some decisions delivered late, some inspections too long, findings,
//! remediation, referrals), incidents of the kinds the incident data records (some notified late),
//! monitoring alerts (some never followed up), trainings and guidance, dossiers, annual tasks with
//! quarterly reports, tenants' and parks' annual reports (some late). Every audit question has
//! answers.
//!
//! How: after the registry (sequential, then each park's tenants in parallel), each park's story
//! is a discrete-event simulation ([`sim`]): a queue of steps in business-time order, each step a
//! command whose answer may schedule later steps (an answer after a request, a delivery after a
//! decision). The parks run concurrently, one caller each; the province's own acts (agreements,
//! annual plans, trainings) are one more such queue. Every queue stops at the merger's date until
//! the administrator has recorded the succession and the parks' new jurisdiction, so that every act
//! after it is the successor's. The same seed gives the same commands, with the same request ids
//! (a second run on the same log replays them and appends nothing); only the interleaving of the
//! parks in the log differs from run to run.
//!
//! How much: about [`Options::events`] events. The registry and the annual reports come first; the
//! rest of the budget sets the rate of every kind of story (a denser province, not a longer one).

mod reference;
mod sim;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Datelike as _, NaiveDate, TimeZone as _, Utc};
use kcn_services::proto;
use proto::principal_service_client::PrincipalServiceClient;
use proto::registry_service_client::RegistryServiceClient;

use crate::client::AuthChannel;
pub use reference::Province;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The same seed gives the same province and the same history.
    pub seed: u64,
    /// Stop once the log holds about this many events (the registry comes first, whatever it is).
    pub events: u64,
    /// Commands in flight at once (each park's story is told by one caller at a time).
    pub callers: usize,
    /// Tenants registered over all parks (the province had 3,190 projects at the end of 2024),
    /// fewer when the events asked for are too few to hold them and their reports.
    pub tenants: usize,
    /// A progress bar on a terminal, logs otherwise.
    pub show_progress: bool,
    /// The present, for a server whose clock is not the wall clock's (a test's): the history ends
    /// two days before it, and the officers' tokens are valid from it. Default: now.
    pub now: Option<DateTime<Utc>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: 2025,
            events: 100_000,
            callers: 16,
            tenants: 3_190,
            show_progress: true,
            now: None,
        }
    }
}

/// What was generated: the ids a benchmark or a demo asks its questions about.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    /// Bình Dương's Board, and the city board that succeeded it on 2025-07-28.
    pub board: String,
    pub successor: String,
    pub companies: Vec<String>,
    pub parks: Vec<String>,
    pub tenants: Vec<String>,
    pub incidents: Vec<String>,
    pub inspections: Vec<String>,
    pub consultations: Vec<String>,
    pub exchanges: Vec<String>,
    pub dossiers: Vec<String>,
    pub alerts: Vec<String>,
    pub agreements: Vec<String>,
    pub plans: Vec<String>,
    /// Commands sent and the log's last position afterwards.
    pub commands: u64,
    pub head: u64,
}

/// The date Bình Dương's Board was merged into Hồ Chí Minh City's (Resolution 202/2025/QH15 took
/// the province into the city on 2025-07-01; the boards merged on 2025-07-28).
pub const MERGER: (i32, u32, u32) = (2025, 7, 28);
/// The first day the simulated coordination covers (the registry is recorded before it).
const HISTORY_FROM: (i32, u32, u32) = (2023, 3, 1);

fn date(ymd: (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(ymd.0, ymd.1, ymd.2).expect("a valid date")
}

/// 08:00 local (UTC+7) on `day`, plus `minutes`.
fn at_local(day: NaiveDate, minutes: i64) -> DateTime<Utc> {
    let midnight_local = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        - chrono::Duration::hours(7);
    midnight_local + chrono::Duration::hours(8) + chrono::Duration::minutes(minutes)
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

/// The principals the generator acts as, each a channel with its own token.
#[derive(Clone)]
pub(crate) struct Callers {
    pub admin: AuthChannel,
    /// Bình Dương's Board's officer, and the city board's after the merger.
    pub board: AuthChannel,
    pub successor: AuthChannel,
    /// One officer per company, by the company's index.
    pub companies: Vec<AuthChannel>,
    pub integration: AuthChannel,
}

/// Sends commands, counts them, retries what the server asks to be retried (the same request id,
/// so a retry never records twice), and names the command that failed.
#[derive(Clone)]
pub(crate) struct Sender {
    pub sent: Arc<AtomicU64>,
    pub seed: u64,
    pub limit: Arc<tokio::sync::Semaphore>,
}

impl Sender {
    /// A request id of this run: the same seed and name give the same id.
    pub fn request_id(&self, name: &str) -> String {
        format!("gen-{}-{name}", self.seed)
    }

    pub fn header(&self, name: &str, at: DateTime<Utc>) -> Option<proto::CommandHeader> {
        Some(proto::CommandHeader {
            request_id: self.request_id(name),
            occurred_at: Some(timestamp(at)),
            source_system: "kcn-ledger-generate".into(),
            ..Default::default()
        })
    }

    /// Runs `call` (one RPC) until it is answered, retrying UNAVAILABLE and RESOURCE_EXHAUSTED;
    /// answers the command's outcome.
    pub async fn send<F, Fut, R>(&self, what: &str, mut call: F) -> anyhow::Result<R>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let _permit = self
            .limit
            .acquire()
            .await
            .context("the generator stopped")?;
        let mut delay = Duration::from_millis(50);
        for attempt in 0.. {
            match call().await {
                Ok(answer) => {
                    self.sent.fetch_add(1, Ordering::Relaxed);
                    return Ok(answer.into_inner());
                }
                Err(status)
                    if attempt < 20
                        && matches!(
                            status.code(),
                            tonic::Code::Unavailable | tonic::Code::ResourceExhausted
                        ) =>
                {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(status) => {
                    return Err(anyhow::anyhow!(
                        "{what}: {:?}: {}",
                        status.code(),
                        status.message()
                    ));
                }
            }
        }
        unreachable!("the loop returns")
    }
}

/// The id in a command's outcome.
pub(crate) fn id_of(outcome: Option<proto::CommandOutcome>) -> anyhow::Result<String> {
    outcome
        .map(|o| o.aggregate_id)
        .filter(|id| !id.is_empty())
        .context("the command's answer names no aggregate")
}

#[allow(clippy::too_many_arguments)]
async fn issue(
    sender: &Sender,
    admin: &AuthChannel,
    server: &str,
    name: &str,
    role: proto::Role,
    organisation_id: &str,
    key: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<AuthChannel> {
    let principals = PrincipalServiceClient::new(admin.clone());
    let now = now - chrono::Duration::minutes(1);
    let answer = sender
        .send(&format!("IssuePrincipal {name}"), || {
            let mut c = principals.clone();
            let r = proto::IssuePrincipalRequest {
                header: sender.header(&format!("principal-{key}"), now),
                name: name.to_owned(),
                role: role as i32,
                organisation_id: organisation_id.to_owned(),
                ..Default::default()
            };
            async move { c.issue_principal(r).await }
        })
        .await?;
    anyhow::ensure!(
        !answer.token.is_empty(),
        "principal {name} was issued by an earlier run of this seed on this log, and its token is \
         not shown again: generate on a fresh log, or with another seed"
    );
    crate::client::connect(server, Some(&answer.token)).await
}

/// Generates the province on the server at `server` (`http://127.0.0.1:50051`), as the
/// administrator whose token is `admin_token` (who issues the officers' tokens it then acts with).
///
/// # Errors
///
/// The server cannot be reached, or refuses a command the generator expected it to take (a bug in
/// the generator or in the server: the message names the command).
pub async fn run(server: &str, admin_token: &str, options: &Options) -> anyhow::Result<Generated> {
    let province = Province::load();
    let admin = crate::client::connect(server, Some(admin_token)).await?;
    let sender = Sender {
        sent: Arc::new(AtomicU64::new(0)),
        seed: options.seed,
        limit: Arc::new(tokio::sync::Semaphore::new(options.callers.max(1))),
    };
    let now = options.now.unwrap_or_else(Utc::now);
    let end = (now - chrono::Duration::days(2)).date_naive();
    let years = u64::try_from(end.year() - HISTORY_FROM.0 + 1)
        .unwrap_or(1)
        .max(1);
    // Each tenant costs its registration, permit, commitment and a report a year.
    let per_tenant = 3 + years;
    let tenants = options
        .tenants
        .min(usize::try_from(options.events / (2 * per_tenant)).unwrap_or(usize::MAX))
        .max(province.parks.len());
    let mut progress = crate::progress::Progress::new(
        "generating the province",
        "commands",
        options.events,
        options.show_progress,
    );
    let ticker = {
        let sent = sender.sent.clone();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                        progress.set(sent.load(Ordering::Relaxed));
                    }
                    _ = &mut stopped => break,
                }
            }
            progress.set(sent.load(Ordering::Relaxed));
            progress.finish();
        });
        (stop, task)
    };
    let result = generate(
        server, &admin, &sender, &province, tenants, years, now, options,
    )
    .await;
    let _ = ticker.0.send(());
    let _ = ticker.1.await;
    let mut generated = result?;
    generated.commands = sender.sent.load(Ordering::Relaxed);
    let mut audit = proto::audit_service_client::AuditServiceClient::new(admin);
    // The log's head (a signed checkpoint may trail it by the signing interval).
    generated.head = audit
        .get_projection_status(proto::GetProjectionStatusRequest::default())
        .await
        .ok()
        .and_then(|s| s.into_inner().projections.iter().map(|p| p.log_head).max())
        .unwrap_or(0);
    Ok(generated)
}

#[allow(clippy::too_many_arguments)]
async fn generate(
    server: &str,
    admin: &AuthChannel,
    sender: &Sender,
    province: &Province,
    tenants: usize,
    years: u64,
    now: DateTime<Utc>,
    options: &Options,
) -> anyhow::Result<Generated> {
    let end = (now - chrono::Duration::days(2)).date_naive();
    let registry = RegistryServiceClient::new(admin.clone());
    let opening = at_local(date((2023, 1, 3)), 0);
    let board = id_of(
        sender
            .send("EstablishAuthority Bình Dương", || {
                let mut c = registry.clone();
                let r = proto::EstablishAuthorityRequest {
                    header: sender.header("authority-binh-duong", opening),
                    name: "Ban quản lý các khu công nghiệp Bình Dương".into(),
                    kind: proto::AuthorityKind::IndustrialParksBoard as i32,
                    jurisdiction: "Bình Dương".into(),
                    decision_no: "QĐ-01/1994".into(),
                    effective_from: "1994-01-01".into(),
                };
                async move { c.establish_authority(r).await }
            })
            .await?
            .outcome,
    )?;
    let successor = id_of(
        sender
            .send("EstablishAuthority Hồ Chí Minh", || {
                let mut c = registry.clone();
                let r = proto::EstablishAuthorityRequest {
                    header: sender
                        .header("authority-hepza", opening + chrono::Duration::minutes(5)),
                    name: "Ban Quản lý các khu chế xuất và công nghiệp Thành phố Hồ Chí Minh"
                        .into(),
                    kind: proto::AuthorityKind::ExportProcessingAndIndustrialZonesBoard as i32,
                    jurisdiction: "Thành phố Hồ Chí Minh".into(),
                    decision_no: "QĐ-HEPZA/1992".into(),
                    effective_from: "1992-01-01".into(),
                };
                async move { c.establish_authority(r).await }
            })
            .await?
            .outcome,
    )?;
    let mut companies = Vec::new();
    for (i, company) in province.companies.iter().enumerate() {
        let at = opening + chrono::Duration::minutes(10 + i as i64);
        companies.push(id_of(
            sender
                .send(&format!("RegisterCompany {}", company.name), || {
                    let mut c = registry.clone();
                    let r = proto::RegisterCompanyRequest {
                        header: sender.header(&format!("company-{i}"), at),
                        enterprise_code: company.enterprise_code.clone(),
                        name: company.name.clone(),
                        address: "Bình Dương".into(),
                    };
                    async move { c.register_company(r).await }
                })
                .await?
                .outcome,
        )?);
    }
    let mut parks = Vec::new();
    for (i, park) in province.parks.iter().enumerate() {
        let at = at_local(date((2023, 1, 4)), i as i64 * 3);
        let id = id_of(
            sender
                .send(&format!("RegisterPark {}", park.code), || {
                    let mut c = registry.clone();
                    let r = proto::RegisterParkRequest {
                        header: sender.header(&format!("park-{}", park.code), at),
                        code: park.code.clone(),
                        name: park.name.clone(),
                        area_ha: park.area_ha.clone(),
                        location: format!("{}, Bình Dương", park.town),
                    };
                    async move { c.register_park(r).await }
                })
                .await?
                .outcome,
        )?;
        sender
            .send(&format!("AssignJurisdiction {}", park.code), || {
                let mut c = registry.clone();
                let r = proto::AssignJurisdictionRequest {
                    header: sender.header(
                        &format!("jurisdiction-{}", park.code),
                        at + chrono::Duration::minutes(1),
                    ),
                    park_id: id.clone(),
                    authority_id: board.clone(),
                    effective_from: format!("{}-01-01", park.established.max(1994)),
                };
                async move { c.assign_jurisdiction(r).await }
            })
            .await?;
        sender
            .send(
                &format!("AssignInfrastructureCompany {}", park.code),
                || {
                    let mut c = registry.clone();
                    let r = proto::AssignInfrastructureCompanyRequest {
                        header: sender.header(
                            &format!("company-of-{}", park.code),
                            at + chrono::Duration::minutes(2),
                        ),
                        park_id: id.clone(),
                        company_id: companies[park.company].clone(),
                        effective_from: format!("{}-01-01", park.established),
                    };
                    async move { c.assign_infrastructure_company(r).await }
                },
            )
            .await?;
        parks.push(id);
    }

    // The officers, and the province's platform.
    let callers = Callers {
        admin: admin.clone(),
        board: issue(
            sender,
            admin,
            server,
            "Ban quản lý KCN Bình Dương – phòng môi trường",
            proto::Role::BoardOfficer,
            &board,
            "board",
            now,
        )
        .await?,
        successor: issue(
            sender,
            admin,
            server,
            "HEPZA – phòng quản lý môi trường",
            proto::Role::BoardOfficer,
            &successor,
            "successor",
            now,
        )
        .await?,
        companies: {
            let mut channels = Vec::new();
            for (i, company) in province.companies.iter().enumerate() {
                channels.push(
                    issue(
                        sender,
                        admin,
                        server,
                        &format!("{} – bộ phận môi trường", company.name),
                        proto::Role::CompanyOfficer,
                        &companies[i],
                        &format!("company-{i}"),
                        now,
                    )
                    .await?,
                );
            }
            channels
        },
        integration: issue(
            sender,
            admin,
            server,
            "Hệ thống quan trắc tự động tỉnh",
            proto::Role::Integration,
            "",
            "integration",
            now,
        )
        .await?,
    };

    let months = sim::months(date(HISTORY_FROM), end);
    let world = sim::World {
        province: province.clone(),
        board,
        successor,
        companies,
        parks,
        callers,
        sender: sender.clone(),
        merger: date(MERGER),
        end,
        density: 0.0,
    };
    // The registry's and the reports' share of the budget; the rest sets the stories' rates.
    let baseline = tenants as u64 * (3 + years) + province.parks.len() as u64 * (years * 9);
    let park_months = (province.parks.len() * months.len()).max(1) as f64;
    let density = (options.events.saturating_sub(baseline) as f64
        / (park_months * sim::EVENTS_PER_PARK_MONTH))
        .max(0.05);
    let world = Arc::new(sim::World { density, ..world });
    sim::run(world, tenants, options.seed).await
}
