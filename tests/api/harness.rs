//! Shared helpers: start a server on a fresh database (SQLite, or PostgreSQL through the test kit),
//! run a scenario on both, make clients, build command headers, and read `google.rpc` error details.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kcn_domain::time::Clock;
use kcn_ledger::config::DatabaseUrl;
use kcn_ledger::{Config, Running};
use kcn_services::proto;
use kcn_services::proto::audit_service_client::AuditServiceClient;
use kcn_services::proto::information_exchange_service_client::InformationExchangeServiceClient;
use kcn_services::proto::registry_service_client::RegistryServiceClient;
use kcn_testkit::PgTestDatabase;
use tonic_types::StatusExt;

/// The in-process credential every test server accepts as its embedding program's own identity
/// (every method, recorded as `embedded`); the binary never has one. Tests of who may call what
/// use real principals and their tokens instead.
pub const EMBEDDED_TOKEN: &str = "kcn_test-harness-embedded-credential-not-a-real-token";

/// A channel that sends a bearer token on every call.
pub type Channel = tonic::service::interceptor::InterceptedService<
    tonic::transport::Channel,
    kcn_ledger::client::Bearer,
>;

/// A channel that sends `token` (or no credential) on every call.
pub fn with_token(raw: &tonic::transport::Channel, token: Option<&str>) -> Channel {
    tonic::service::interceptor::InterceptedService::new(
        raw.clone(),
        kcn_ledger::client::Bearer::new(token).unwrap(),
    )
}

/// A clock the test sets.
#[derive(Debug)]
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(Mutex::new(t))
    }

    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// A running server with its own data directory and clients to it.
pub struct TestServer {
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
    pub clock: Arc<TestClock>,
    /// A channel authenticated as the embedding harness.
    pub channel: Channel,
    /// The same connection without a credential.
    pub raw_channel: tonic::transport::Channel,
    /// The PostgreSQL database the server runs on, if not SQLite; dropped with its last handle.
    pub postgres: Option<Arc<PgTestDatabase>>,
}

impl TestServer {
    /// Starts a server on a fresh SQLite file, with the server clock at 2026-01-01.
    pub async fn start() -> Self {
        Self::start_in(tempfile::tempdir().unwrap()).await
    }

    /// Starts a server on the given data directory (to restart over the same database).
    pub async fn start_in(dir: tempfile::TempDir) -> Self {
        Self::start_with(dir, None).await
    }

    /// Starts a server on a fresh PostgreSQL database (`kcn_test_<uuid>` on the server of
    /// `KCN_TEST_DATABASE_URL`, dropped at the end), or `None` when PostgreSQL is deliberately
    /// skipped (`KCN_TEST_SKIP_POSTGRES=1`). Without either variable it fails the test.
    pub async fn start_postgres(test: &str) -> Option<Self> {
        let db = PgTestDatabase::create(test).await?;
        Some(Self::start_with(tempfile::tempdir().unwrap(), Some(Arc::new(db))).await)
    }

    /// Starts a server on a data directory and, if given, a PostgreSQL database instead of the
    /// directory's SQLite file.
    pub async fn start_with(dir: tempfile::TempDir, postgres: Option<Arc<PgTestDatabase>>) -> Self {
        Self::start_configured(dir, postgres, |_| {}).await
    }

    /// Starts a server as [`TestServer::start_with`] does, with its configuration changed by
    /// `configure` first.
    pub async fn start_configured(
        dir: tempfile::TempDir,
        postgres: Option<Arc<PgTestDatabase>>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            database_url: postgres.as_ref().map(|db| DatabaseUrl::new(db.url())),
            database_max_connections: 5,
            // A log shared on PostgreSQL must be given its origin and key (SQLite generates them).
            checkpoint_origin: postgres
                .as_ref()
                .map(|_| "kcn-ledger.test/postgres".to_owned()),
            checkpoint_key_seed: postgres
                .as_ref()
                .map(|_| kcn_eventstore::checkpoint::KeySeed::new([7; 32])),
            ..Config::default()
        };
        config.embedded_token = Some(EMBEDDED_TOKEN.to_owned());
        // The harness drives the server as fast as it can as one principal; the rate limit has
        // tests of its own (tests/api/admission.rs), which set it.
        config.rate_limit_per_second = 0;
        configure(&mut config);
        let clock = Arc::new(TestClock(Mutex::new(at("2026-01-01T00:00:00Z"))));
        // Bind before spawning, so the client can connect at once: no sleeps.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = kcn_ledger::start(config, listener, clock.clone())
            .await
            .unwrap();
        let raw_channel =
            tonic::transport::Channel::from_shared(format!("http://{}", running.addr))
                .unwrap()
                .connect()
                .await
                .unwrap();
        Self {
            running: Some(running),
            dir,
            clock,
            channel: with_token(&raw_channel, Some(EMBEDDED_TOKEN)),
            raw_channel,
            postgres,
        }
    }

    /// Starts a server on a fresh SQLite file whose first administrator has `token` (read from a
    /// token file on the first start), with its configuration changed by `configure`.
    pub async fn with_first_administrator(
        token: &str,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin.token");
        std::fs::write(&file, token).unwrap();
        Self::start_configured(dir, None, |c| {
            c.bootstrap_token_file = Some(file);
            configure(c);
        })
        .await
    }

    /// Stops the server cleanly and starts it again on the same database (SQLite or PostgreSQL).
    pub async fn restart(mut self) -> Self {
        let postgres = self.postgres.take();
        let dir = self.stop().await;
        Self::start_with(dir, postgres).await
    }

    pub fn registry(&self) -> RegistryServiceClient<Channel> {
        RegistryServiceClient::new(self.channel.clone())
    }

    pub fn exchanges(&self) -> InformationExchangeServiceClient<Channel> {
        InformationExchangeServiceClient::new(self.channel.clone())
    }

    pub fn audit(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(self.channel.clone())
    }

    /// Stops the server cleanly and hands back its data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.running.take().unwrap().shutdown().await.unwrap();
        self.dir
    }

    /// Every event in the log, as the audit service streams it.
    pub async fn read_log(&self) -> Vec<proto::LogEvent> {
        let mut stream = self
            .audit()
            .read_log(proto::ReadLogRequest {
                from_position: 1,
                to_position: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let mut events = Vec::new();
        while let Some(item) = stream.message().await.unwrap() {
            events.push(item.event.unwrap());
        }
        events
    }
}

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub fn ts(s: &str) -> prost_types::Timestamp {
    let t = at(s);
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A command header with a fresh request id.
pub fn header(occurred_at: &str) -> Option<proto::CommandHeader> {
    Some(proto::CommandHeader {
        request_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: Some(ts(occurred_at)),
        ..Default::default()
    })
}

/// A command header with a given request id.
pub fn header_with_id(occurred_at: &str, request_id: &str) -> Option<proto::CommandHeader> {
    Some(proto::CommandHeader {
        request_id: request_id.to_owned(),
        occurred_at: Some(ts(occurred_at)),
        ..Default::default()
    })
}

/// The field names of an `INVALID_ARGUMENT`'s `BadRequest`.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("INVALID_ARGUMENT carries a BadRequest")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// The violation types of a `FAILED_PRECONDITION`'s `PreconditionFailure`.
pub fn precondition_types(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    status
        .get_details_precondition_failure()
        .expect("FAILED_PRECONDITION carries a PreconditionFailure")
        .violations
        .into_iter()
        .map(|v| v.r#type)
        .collect()
}

/// A well-formed enterprise code of ten digits derived from `seed`: the same seed gives the same
/// code (so a retried request is the same command), different seeds different codes (codes are
/// unique), and none is the seeded company's or tenant's.
#[allow(dead_code)]
pub fn enterprise_code(seed: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    // 3800000000-3899999999: outside the seeded codes (37…).
    format!("{}", 3_800_000_000u64 + h.finish() % 100_000_000)
}

/// A small province: the Board, a company, a park under both, and a tenant.
pub struct Province {
    pub board: String,
    pub company: String,
    pub park: String,
    pub tenant: String,
    pub last_position: u64,
}

pub async fn seed(server: &TestServer) -> Province {
    seed_coded(server, "3700146225", "DONGAN-1", "3702345678").await
}

/// Another small province on the same server, the `n`th: its company, park and tenant have codes of
/// their own (codes are unique).
#[allow(dead_code)]
pub async fn seed_another(server: &TestServer, n: u32) -> Province {
    let company = format!("{}", 3_600_000_000u64 + u64::from(n));
    let park = format!("DONGAN-{}", 100 + n);
    let tenant = format!("{}", 3_500_000_000u64 + u64::from(n));
    seed_coded(server, &company, &park, &tenant).await
}

/// Registers a new infrastructure company and hands `park` over to it from `effective_from`;
/// answers the company's id.
#[allow(dead_code)]
pub async fn hand_over_park(server: &TestServer, park: &str, effective_from: &str) -> String {
    let mut registry = server.registry();
    let company = registry
        .register_company(proto::RegisterCompanyRequest {
            header: header("2025-04-05T02:00:00Z"),
            enterprise_code: fresh_enterprise_code(),
            name: "CTCP Hạ tầng Mới".into(),
            address: "Thuận An".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap()
        .aggregate_id;
    registry
        .assign_infrastructure_company(proto::AssignInfrastructureCompanyRequest {
            header: header("2025-04-05T02:10:00Z"),
            park_id: park.to_owned(),
            company_id: company.clone(),
            effective_from: effective_from.to_owned(),
        })
        .await
        .unwrap();
    company
}

/// A fresh enterprise code on every call in this test process (codes are unique).
#[allow(dead_code)]
pub fn fresh_enterprise_code() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(3_900_000_000);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string()
}

async fn seed_coded(
    server: &TestServer,
    company_code: &str,
    park_code: &str,
    tenant_code: &str,
) -> Province {
    let mut reg = server.registry();
    let board = reg
        .establish_authority(proto::EstablishAuthorityRequest {
            header: header("2025-04-01T02:00:00Z"),
            name: "Ban quản lý các khu công nghiệp Bình Dương".into(),
            kind: proto::AuthorityKind::IndustrialParksBoard as i32,
            jurisdiction: "Bình Dương".into(),
            decision_no: "QĐ-01/2006".into(),
            effective_from: "2006-01-01".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let company = reg
        .register_company(proto::RegisterCompanyRequest {
            header: header("2025-04-01T02:10:00Z"),
            enterprise_code: company_code.into(),
            name: "CTCP TM-SX Hưng Thịnh".into(),
            address: "Thuận An".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    let park = reg
        .register_park(proto::RegisterParkRequest {
            header: header("2025-04-01T02:20:00Z"),
            code: park_code.into(),
            name: "KCN Đồng An".into(),
            area_ha: "138.7".into(),
            location: "Thuận An, Bình Dương".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    reg.assign_jurisdiction(proto::AssignJurisdictionRequest {
        header: header("2025-04-01T02:30:00Z"),
        park_id: park.aggregate_id.clone(),
        authority_id: board.aggregate_id.clone(),
        effective_from: "2006-01-01".into(),
    })
    .await
    .unwrap();
    reg.assign_infrastructure_company(proto::AssignInfrastructureCompanyRequest {
        header: header("2025-04-01T02:40:00Z"),
        park_id: park.aggregate_id.clone(),
        company_id: company.aggregate_id.clone(),
        effective_from: "1996-11-14".into(),
    })
    .await
    .unwrap();
    let tenant = reg
        .register_tenant(proto::RegisterTenantRequest {
            header: header("2025-04-02T03:00:00Z"),
            park_id: park.aggregate_id.clone(),
            enterprise_code: tenant_code.into(),
            name: "Công ty TNHH Gỗ Minh Phát".into(),
            investment_registration_no: "9876543210".into(),
            vsic_codes: vec![proto::VsicCode {
                code: "1610".into(),
                version: "2018".into(),
            }],
            foreign_invested: true,
        })
        .await
        .unwrap()
        .into_inner()
        .outcome
        .unwrap();
    Province {
        board: board.aggregate_id,
        company: company.aggregate_id,
        park: park.aggregate_id,
        last_position: tenant.last_position,
        tenant: tenant.aggregate_id,
    }
}

/// Waits until every read model has applied the whole log (the questions then see every record),
/// failing the test after ten seconds.
#[allow(dead_code)]
pub async fn read_models_at_head(server: &TestServer) {
    let head = server.read_log().await.len() as u64;
    let audit = server.audit();
    let reached = wait_until(Duration::from_secs(10), || {
        let mut audit = audit.clone();
        async move {
            audit
                .get_projection_status(proto::GetProjectionStatusRequest {})
                .await
                .map(|s| {
                    s.into_inner()
                        .projections
                        .iter()
                        .all(|p| p.position >= head)
                })
                .unwrap_or(false)
        }
    })
    .await;
    assert!(reached, "the read models did not reach position {head}");
}

/// Polls `check` until it holds or `deadline` passes (for eventual consistency; never a fixed sleep).
#[allow(dead_code)]
pub async fn wait_until<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs end-to-end scenarios on both backends. Each scenario is written once, as
/// `async fn name(server: TestServer)`, and becomes two tests: `name::on_sqlite`, on a fresh SQLite
/// file, and `name::on_postgres`, on a fresh PostgreSQL database (skipped, with a note, only under
/// `KCN_TEST_SKIP_POSTGRES=1`).
macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[tokio::test]
            async fn on_sqlite() {
                super::$scenario($crate::harness::TestServer::start().await).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                if let Some(server) =
                    $crate::harness::TestServer::start_postgres(stringify!($scenario)).await
                {
                    super::$scenario(server).await;
                }
            }
        }
    )+};
}
pub(crate) use on_both_backends;
