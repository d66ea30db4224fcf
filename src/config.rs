//! Typed, layered configuration: defaults, then an optional TOML file, then `KCN_*` environment
//! variables, then command-line flags. Unknown keys are an error; secrets are never logged.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use kcn_domain::LegalRules;
use kcn_domain::calendar::Calendar;
use kcn_eventstore::SqliteDurability;
use kcn_eventstore::checkpoint::{IdentityConfig, KeySeed};
use serde::{Deserialize, Serialize};

mod database;
pub use database::{DEFAULT_MAX_CONNECTIONS, DatabaseUrl, Storage};

/// The environment variable holding the checkpoint signing key's seed (64 hex digits).
pub const SEED_ENV: &str = "KCN_CHECKPOINT_KEY_SEED";
/// [`SEED_ENV`] as the layered environment source names it (prefix stripped, lowercase).
const SEED_ENV_KEY: &str = "checkpoint_key_seed";

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON otherwise.
    Auto,
    Json,
    Pretty,
}

/// The server's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the gRPC server listens.
    pub listen: SocketAddr,
    /// Where the embedded database (and, later, the log's signing key) live.
    pub data_dir: PathBuf,
    /// The SQLite durability mode: `full` (the default) or `normal_weaker`, which may lose the last
    /// acknowledged commands on power loss.
    pub sqlite_durability: SqliteDurability,
    /// The PostgreSQL database for the log and the read models (`postgres://user:password@host/db`;
    /// also `KCN_DATABASE_URL` or `--database-url`). Unset: the embedded SQLite file in `data_dir`.
    /// Logged only with its password redacted.
    pub database_url: Option<DatabaseUrl>,
    /// The PostgreSQL connection pool's size, at least 2 (one more connection holds the projection
    /// leadership lock).
    pub database_max_connections: u32,
    /// How far in the future an event's `occurred_at` may lie, in seconds.
    pub max_future_skew_seconds: u64,
    /// On the first start over a log with no principal, the first administrator's bearer token is
    /// read from this file if it exists, or generated and written to it (mode 0600) if it does not.
    /// Unset: the token is generated and printed once on standard error.
    pub bootstrap_token_file: Option<PathBuf>,
    pub log_format: LogFormat,
    /// How long in-flight requests may take to finish after SIGINT/SIGTERM, in seconds.
    pub shutdown_grace_seconds: u64,
    /// The legal limits the domain judges against.
    pub rules: LegalRules,
    /// A holiday calendar replacing the built-in one (`domain/data/vn-calendar.json`, 2024–2027):
    /// the same JSON shape, with each day's source decision. Working days are counted with it for
    /// administrative procedures, and for every day-counted limit with `rules.calendar_days = false`.
    pub calendar_file: Option<PathBuf>,
    /// The first line of every signed checkpoint. Default: generated on first start
    /// (`kcn-ledger.local/<random>`) and kept in the data directory.
    pub checkpoint_origin: Option<String>,
    /// The name of the checkpoint signing key. Default: the origin.
    pub checkpoint_key_name: Option<String>,
    /// A file holding the checkpoint signing key's Ed25519 seed as 64 hex digits, readable by its
    /// owner only. Default: generated on first start into the data directory. The seed may instead
    /// come from the environment variable `KCN_CHECKPOINT_KEY_SEED` (never from this file's layers).
    pub checkpoint_key_seed_file: Option<PathBuf>,
    /// The least time between two checkpoints issued after commits, in milliseconds.
    pub checkpoint_interval_ms: u64,
    /// Whether accepted connections get `TCP_NODELAY`, so that small answers leave at once instead
    /// of waiting about 40 ms for the client's delayed acknowledgement.
    pub tcp_nodelay: bool,
    /// The idle time after which the kernel probes a silent peer (TCP keepalive), in seconds; `0`
    /// leaves the system's setting.
    pub tcp_keepalive_seconds: u64,
    /// How often the server pings each HTTP/2 connection, in seconds; `0` disables the pings.
    pub http2_keepalive_interval_seconds: u64,
    /// How long a ping may go unanswered before the connection is closed, in seconds.
    pub http2_keepalive_timeout_seconds: u64,
    /// A connection on which the client has sent nothing at all for this long (no request, no
    /// answer to a keepalive ping) is closed, in seconds; `0` never closes one for silence.
    pub connection_idle_timeout_seconds: u64,
    /// Where the Prometheus metrics are served over HTTP (`GET /metrics`). Unset (the default):
    /// no metrics endpoint. It has no authentication: keep it on loopback or behind a firewall.
    pub metrics_listen: Option<SocketAddr>,
    /// The OTLP/HTTP endpoint of an OpenTelemetry collector (`http://127.0.0.1:4318`); traces are
    /// posted to its `/v1/traces`. Unset (the default): nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// The server's TLS certificate chain (PEM). With `tls_key`, the server speaks only TLS;
    /// without both, plain HTTP/2 (for loopback, or behind a terminating proxy).
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM), readable by its owner only.
    pub tls_key: Option<PathBuf>,
    /// The certificate authorities (PEM) whose client certificates the server accepts (mutual
    /// TLS). A client may then authenticate with a certificate registered to a principal
    /// (`principals add --certificate`) instead of a bearer token; a client without one still
    /// may use a token. Needs `tls_cert` and `tls_key`.
    pub tls_client_ca: Option<PathBuf>,
    /// Calls in progress at once over all connections; a call beyond it is answered
    /// `RESOURCE_EXHAUSTED` with a `RetryInfo` at once (never queued). `0`: no limit.
    pub max_concurrent_calls: usize,
    /// `Subscribe` streams open at once; one more is answered `RESOURCE_EXHAUSTED`
    /// (`TOO_MANY_SUBSCRIPTIONS`). A stream costs one page of the log in memory.
    pub max_subscriptions: usize,
    /// The web origins (`https://portal.example.gov.vn`) whose pages may call the API from a
    /// browser (gRPC-Web and Connect JSON, with CORS); empty: only pages the server itself serves.
    pub cors_allowed_origins: Vec<String>,
    /// The e-government endpoints the log is delivered to (`[[deliveries]]` tables:
    /// `src/delivery.rs`, README "Delivery to e-government platforms").
    pub deliveries: Vec<crate::delivery::EndpointConfig>,
    /// A failed delivery is retried after this, doubling with each failure up to
    /// `delivery_retry_max_ms`, with jitter.
    pub delivery_retry_base_ms: u64,
    pub delivery_retry_max_ms: u64,
    /// How long a server holds an endpoint's delivery without renewing it; another server of the
    /// database takes the endpoint over once it has run out.
    pub delivery_lease_ms: u64,
    /// Calls each principal may start per second, sustained (a token bucket per principal); a call
    /// beyond it is answered `RESOURCE_EXHAUSTED` with a `RetryInfo`. `0`: no limit.
    pub rate_limit_per_second: u32,
    /// Calls a principal may start at once above the sustained rate.
    pub rate_limit_burst: u32,
    /// The largest request message the server decodes, in bytes (a larger one is refused before
    /// it is read whole). Every valid command fits in far less: an event is at most 256 KiB.
    pub max_message_bytes: usize,
    /// The seed from `KCN_CHECKPOINT_KEY_SEED`, read by [`Config::load`] outside the layered
    /// sources so that it can never appear in a file, a flag or a dump of the configuration.
    #[serde(skip)]
    pub checkpoint_key_seed: Option<KeySeed>,
    /// A program that embeds the server (a test harness) may give it an in-process credential that
    /// calls every method as `embedded`; never read from a file, a flag or the environment, so the
    /// `kcn-ledger` binary never has one.
    #[serde(skip)]
    pub embedded_token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from("data"),
            sqlite_durability: SqliteDurability::Full,
            database_url: None,
            database_max_connections: DEFAULT_MAX_CONNECTIONS,
            max_future_skew_seconds: 300,
            bootstrap_token_file: None,
            log_format: LogFormat::Auto,
            shutdown_grace_seconds: 30,
            rules: LegalRules::default(),
            calendar_file: None,
            checkpoint_origin: None,
            checkpoint_key_name: None,
            checkpoint_key_seed_file: None,
            checkpoint_interval_ms: 1_000,
            tcp_nodelay: true,
            tcp_keepalive_seconds: 60,
            http2_keepalive_interval_seconds: 30,
            http2_keepalive_timeout_seconds: 20,
            connection_idle_timeout_seconds: 300,
            metrics_listen: None,
            otlp_endpoint: None,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            max_concurrent_calls: 512,
            max_subscriptions: 1024,
            cors_allowed_origins: Vec::new(),
            deliveries: Vec::new(),
            delivery_retry_base_ms: 500,
            delivery_retry_max_ms: 60_000,
            delivery_lease_ms: 15_000,
            rate_limit_per_second: 1_000,
            rate_limit_burst: 2_000,
            max_message_bytes: 1024 * 1024,
            checkpoint_key_seed: None,
            embedded_token: None,
        }
    }
}

impl Config {
    /// Layers defaults, the optional file, the environment and the given overrides (flags).
    pub fn load(file: Option<&Path>, overrides: Figment) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let mut config: Config = figment
            .merge(
                Env::prefixed("KCN_")
                    .split("__")
                    .ignore(&["config", SEED_ENV_KEY])
                    // The test suites' own variables (KCN_TEST_DATABASE_URL, KCN_TEST_PYTHON, …)
                    // are not configuration.
                    .filter(|key| !key.starts_with("test_")),
            )
            .merge(overrides)
            .extract()
            .map_err(Box::new)?;
        config.checkpoint_key_seed = match std::env::var(SEED_ENV) {
            Ok(hex) => Some(
                KeySeed::from_hex(&hex, SEED_ENV)
                    .map_err(|e| Box::new(figment::Error::from(e.to_string())))?,
            ),
            Err(_) => None,
        };
        if let Some(path) = &config.calendar_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Box::new(figment::Error::from(format!(
                    "calendar_file {}: {e}",
                    path.display()
                )))
            })?;
            config.rules.calendar = Calendar::parse(&text).map_err(|e| {
                Box::new(figment::Error::from(format!(
                    "calendar_file {}: {e}",
                    path.display()
                )))
            })?;
        }
        Ok(config)
    }

    /// What the configuration says about the log's origin and signing key.
    pub fn identity(&self) -> IdentityConfig {
        IdentityConfig {
            origin: self.checkpoint_origin.clone(),
            key_name: self.checkpoint_key_name.clone(),
            seed: self.checkpoint_key_seed.clone(),
            seed_file: self.checkpoint_key_seed_file.clone(),
        }
    }

    /// The SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("kcn-ledger.sqlite")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_days_and_an_updated_calendar_are_read_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let calendar = dir.path().join("calendar.json");
        std::fs::write(
            &calendar,
            r#"{"first_year": 2028, "last_year": 2028, "days": [
                {"date": "2028-01-03", "kind": "holiday", "name": "x", "source": "a notice"}]}"#,
        )
        .unwrap();
        let file = dir.path().join("kcn.toml");
        std::fs::write(
            &file,
            format!(
                "calendar_file = {:?}\n[rules]\ncalendar_days = false\n",
                calendar.display().to_string()
            ),
        )
        .unwrap();
        let config = Config::load(Some(&file), Figment::new()).unwrap();
        assert!(!config.rules.calendar_days);
        assert_eq!(config.rules.calendar.covers(), Some((2028, 2028)));
        let monday = chrono::NaiveDate::from_ymd_opt(2028, 1, 3).unwrap();
        assert!(!config.rules.calendar.is_working_day(monday));
        // A calendar with a typo is refused, naming the file and the day.
        std::fs::write(
            &calendar,
            r#"{"first_year": 2028, "last_year": 2028, "days": [
                {"date": "2028-01-01", "kind": "holiday", "name": "x", "source": "y"}]}"#,
        )
        .unwrap();
        let err = Config::load(Some(&file), Figment::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("calendar.json") && err.contains("2028-01-01"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kcn.toml");
        std::fs::write(&file, "listne = \"127.0.0.1:1\"\n").unwrap();
        let err = Config::load(Some(&file), Figment::new()).unwrap_err();
        assert!(err.to_string().contains("listne"), "{err}");
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kcn.toml");
        std::fs::write(
            &file,
            "shutdown_grace_seconds = 7\nmax_future_skew_seconds = 60\n",
        )
        .unwrap();
        let flags = Figment::new().merge(Serialized::default("shutdown_grace_seconds", 9));
        let config = Config::load(Some(&file), flags).unwrap();
        assert_eq!(config.shutdown_grace_seconds, 9);
        assert_eq!(config.max_future_skew_seconds, 60);
        assert_eq!(config.checkpoint_interval_ms, 1_000);
    }

    #[test]
    fn operations_settings_are_off_by_default_and_read_from_the_file() {
        let defaults = Config::default();
        assert_eq!(defaults.metrics_listen, None);
        assert_eq!(defaults.otlp_endpoint, None);
        assert!(defaults.tcp_nodelay);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kcn.toml");
        std::fs::write(
            &file,
            "metrics_listen = \"127.0.0.1:9464\"\notlp_endpoint = \"http://127.0.0.1:4318\"\n\
             connection_idle_timeout_seconds = 0\nhttp2_keepalive_interval_seconds = 10\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), Figment::new()).unwrap();
        assert_eq!(config.metrics_listen, Some(([127, 0, 0, 1], 9464).into()));
        assert_eq!(
            config.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318")
        );
        let options = crate::connections::ConnectionOptions::from_config(&config);
        assert_eq!(options.idle_timeout, None);
        assert_eq!(
            options.http2_keepalive_interval,
            Some(std::time::Duration::from_secs(10))
        );
        assert_eq!(
            options.tcp_keepalive,
            Some(std::time::Duration::from_secs(60))
        );
    }

    #[test]
    fn checkpoint_settings_come_from_the_file_and_the_seed_never_shows() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kcn.toml");
        std::fs::write(
            &file,
            "checkpoint_origin = \"ledger.example/binh-duong\"\ncheckpoint_interval_ms = 250\n",
        )
        .unwrap();
        let mut config = Config::load(Some(&file), Figment::new()).unwrap();
        assert_eq!(
            config.identity().origin.as_deref(),
            Some("ledger.example/binh-duong")
        );
        assert_eq!(config.checkpoint_interval_ms, 250);
        config.checkpoint_key_seed = Some(KeySeed::new([0xab; 32]));
        assert!(!format!("{config:?}").contains("abab"));
        // The seed is not a file setting: it must come from the environment or a seed file.
        std::fs::write(&file, "checkpoint_key_seed = \"00\"\n").unwrap();
        assert!(Config::load(Some(&file), Figment::new()).is_err());
    }
}
