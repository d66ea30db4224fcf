//! Which database the server keeps its log and read models in: the embedded SQLite file in the data
//! directory unless `database_url` names a PostgreSQL server. The URL may carry a password, so it is
//! held in a type that shows it redacted everywhere it could be printed.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Config;

/// The PostgreSQL pool size when the configuration names none.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// A database URL. `Debug` and `Display` show it with its password replaced by `***`; only
/// [`DatabaseUrl::expose`] gives the URL itself, to hand to the driver.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the URL names a PostgreSQL server.
    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }

    /// The URL with the password of its user part and of a `password=` parameter replaced by `***`.
    pub fn redacted(&self) -> String {
        let url = self.0.as_str();
        let (head, query) = match url.split_once('?') {
            Some((head, query)) => (head, Some(query)),
            None => (url, None),
        };
        let mut out = match head.split_once("://") {
            Some((scheme, rest)) => {
                // The authority ends at the first '/'; its user part at its last '@'.
                let (authority, path) = match rest.find('/') {
                    Some(i) => rest.split_at(i),
                    None => (rest, ""),
                };
                match authority.rsplit_once('@') {
                    Some((user, host)) => match user.split_once(':') {
                        Some((name, _password)) => format!("{scheme}://{name}:***@{host}{path}"),
                        None => head.to_owned(),
                    },
                    None => head.to_owned(),
                }
            }
            None => head.to_owned(),
        };
        if let Some(query) = query {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_owned(),
                })
                .collect();
            out.push('?');
            out.push_str(&params.join("&"));
        }
        out
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Where the log and the read models live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// The embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database shared by any number of servers.
    Postgres {
        url: DatabaseUrl,
        max_connections: u32,
    },
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres { url, .. } => write!(f, "{url}"),
        }
    }
}

impl Config {
    /// The storage this configuration chooses: PostgreSQL when `database_url` is set, else SQLite.
    pub fn storage(&self) -> anyhow::Result<Storage> {
        match &self.database_url {
            None => Ok(Storage::Sqlite(self.database_path())),
            Some(url) if url.is_postgres() => {
                anyhow::ensure!(
                    self.database_max_connections >= 2,
                    "database_max_connections must be at least 2, got {}",
                    self.database_max_connections
                );
                Ok(Storage::Postgres {
                    url: url.clone(),
                    max_connections: self.database_max_connections,
                })
            }
            Some(url) => anyhow::bail!(
                "database_url {url} is not a postgres:// URL; leave it unset to use the embedded \
                 SQLite file in data_dir"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::Serialized;

    use super::*;

    #[test]
    fn the_password_is_redacted_wherever_the_url_is_printed() {
        let url =
            DatabaseUrl::new("postgres://kcn:s3cr%40t@db.example:5432/ledger?sslmode=require");
        assert_eq!(
            url.redacted(),
            "postgres://kcn:***@db.example:5432/ledger?sslmode=require"
        );
        assert!(!format!("{url} {url:?}").contains("s3cr"));
        let config = Config {
            database_url: Some(url),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("s3cr"), "{config:?}");
        let storage = config.storage().unwrap();
        assert!(!storage.to_string().contains("s3cr"), "{storage}");

        let query =
            DatabaseUrl::new("postgresql://db/ledger?user=kcn&password=hunter2&sslmode=disable");
        assert_eq!(
            query.redacted(),
            "postgresql://db/ledger?user=kcn&password=***&sslmode=disable"
        );
        let plain = DatabaseUrl::new("postgres://postgres@127.0.0.1:5432/postgres");
        assert_eq!(plain.redacted(), plain.expose());
    }

    #[test]
    fn an_unset_url_means_the_embedded_sqlite_file_and_a_flag_chooses_postgres() {
        let config = Config::load(None, Figment::new()).unwrap();
        if std::env::var_os("KCN_DATABASE_URL").is_none() {
            assert_eq!(
                config.storage().unwrap(),
                Storage::Sqlite(config.database_path())
            );
        }
        let flags = Figment::new()
            .merge(Serialized::default("database_url", "postgres://u:p@h/db"))
            .merge(Serialized::default("database_max_connections", 4));
        let config = Config::load(None, flags).unwrap();
        assert_eq!(
            config.storage().unwrap(),
            Storage::Postgres {
                url: DatabaseUrl::new("postgres://u:p@h/db"),
                max_connections: 4
            }
        );
    }

    #[test]
    fn a_url_that_is_not_postgres_or_a_pool_of_one_is_refused() {
        let config = Config {
            database_url: Some(DatabaseUrl::new("mysql://u:pw@h/db")),
            ..Config::default()
        };
        let err = config.storage().unwrap_err().to_string();
        assert!(
            err.contains("not a postgres:// URL") && !err.contains("pw@"),
            "{err}"
        );
        let config = Config {
            database_url: Some(DatabaseUrl::new("postgres://h/db")),
            database_max_connections: 1,
            ..Config::default()
        };
        assert!(config.storage().is_err());
    }
}
