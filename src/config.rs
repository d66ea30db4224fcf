//! Typed, layered configuration: defaults, then an optional TOML file, then `KCN_*` environment
//! variables, then command-line flags. Unknown keys are an error; secrets are never logged.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use kcn_domain::LegalRules;
use kcn_eventstore::SqliteDurability;
use serde::{Deserialize, Serialize};

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
    /// How far in the future an event's `occurred_at` may lie, in seconds.
    pub max_future_skew_seconds: u64,
    /// The principal every event records as its actor until callers authenticate.
    pub principal: String,
    pub organisation: Option<String>,
    pub role: Option<String>,
    pub log_format: LogFormat,
    /// How long in-flight requests may take to finish after SIGINT/SIGTERM, in seconds.
    pub shutdown_grace_seconds: u64,
    /// The legal limits the domain judges against.
    pub rules: LegalRules,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            data_dir: PathBuf::from("data"),
            sqlite_durability: SqliteDurability::Full,
            max_future_skew_seconds: 300,
            principal: "local-operator".to_owned(),
            organisation: None,
            role: None,
            log_format: LogFormat::Auto,
            shutdown_grace_seconds: 30,
            rules: LegalRules::default(),
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
        figment
            .merge(Env::prefixed("KCN_").split("__").ignore(&["config"]))
            .merge(overrides)
            .extract()
            .map_err(Box::new)
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
            "principal = \"from-file\"\nmax_future_skew_seconds = 60\n",
        )
        .unwrap();
        let flags = Figment::new().merge(Serialized::default("principal", "from-flag"));
        let config = Config::load(Some(&file), flags).unwrap();
        assert_eq!(config.principal, "from-flag");
        assert_eq!(config.max_future_skew_seconds, 60);
        assert_eq!(config.shutdown_grace_seconds, 30);
    }
}
