//! Fresh PostgreSQL databases for tests: one `kcn_test_<uuid>` database per test on the server of
//! `KCN_TEST_DATABASE_URL`, dropped `WITH (FORCE)` when its guard goes, even after a panic.
//!
//! The skip rule is the same for every test suite: with `KCN_TEST_DATABASE_URL` set, PostgreSQL tests
//! run; without it they fail, unless `KCN_TEST_SKIP_POSTGRES=1`, which skips them with a note on
//! stderr (past the test harness's capture, so that a skip is never silent).

use std::io::Write as _;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _};

/// The variable naming the PostgreSQL server the tests create their databases on: a URL whose user
/// may create databases, such as `postgres://postgres@127.0.0.1:5432/postgres`.
pub const DATABASE_URL_VAR: &str = "KCN_TEST_DATABASE_URL";

/// The variable that, set to `1`, skips PostgreSQL tests deliberately when no server is named.
pub const SKIP_VAR: &str = "KCN_TEST_SKIP_POSTGRES";

/// Writes a note past the test harness's output capture.
pub fn note(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "note: {message}");
}

/// The PostgreSQL server to test against, or `None` when PostgreSQL is deliberately skipped (`test`
/// names the skipped test in the note).
///
/// # Panics
/// When neither `KCN_TEST_DATABASE_URL` nor `KCN_TEST_SKIP_POSTGRES=1` is set: a PostgreSQL test
/// that silently passed without a server would prove nothing.
pub fn server_url(test: &str) -> Option<String> {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var(SKIP_VAR).as_deref() == Ok("1") => {
            note(&format!(
                "skipping {test}: {DATABASE_URL_VAR} is unset and {SKIP_VAR}=1"
            ));
            None
        }
        _ => panic!(
            "{DATABASE_URL_VAR} is not set: the PostgreSQL tests need a server URL whose user may \
             create databases (for example postgres://postgres@127.0.0.1:5432/postgres); set \
             {SKIP_VAR}=1 to skip them deliberately"
        ),
    }
}

/// The URL of database `name` on the server of `server_url`: the same URL with its path replaced,
/// its user, host and query (`sslmode`, a socket `host`) kept.
///
/// # Panics
/// When `server_url` has no `scheme://`.
pub fn database_url(server_url: &str, name: &str) -> String {
    let (scheme, rest) = server_url.split_once("://").unwrap_or_else(|| {
        panic!("{DATABASE_URL_VAR} must look like postgres://user@host:port/database")
    });
    let (main, query) = match rest.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (rest, None),
    };
    // The authority part cannot hold a '/', so the first one starts the path.
    let authority = main
        .split_once('/')
        .map_or(main, |(authority, _)| authority);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// A connection to the server's maintenance database, for `CREATE` and `DROP DATABASE`.
async fn admin(server_url: &str) -> Result<PgConnection, sqlx::Error> {
    PgConnectOptions::from_str(server_url)?.connect().await
}

/// A fresh PostgreSQL database of one test, dropped (`WITH (FORCE)`, which ends the sessions of
/// pools and servers the test did not close) when this guard is dropped, even during a panic.
#[derive(Debug)]
pub struct PgTestDatabase {
    server_url: String,
    name: String,
    url: String,
}

impl PgTestDatabase {
    /// Creates a fresh database on the server of `KCN_TEST_DATABASE_URL`, or returns `None` when
    /// PostgreSQL is deliberately skipped (see [`server_url`]).
    ///
    /// # Panics
    /// When no server is named and PostgreSQL is not skipped, or the server refuses the database.
    pub async fn create(test: &str) -> Option<Self> {
        let server_url = server_url(test)?;
        Some(Self::create_on(&server_url).await)
    }

    /// Creates a fresh database on the server of `server_url`.
    ///
    /// # Panics
    /// When the server cannot be reached or refuses the database.
    pub async fn create_on(server_url: &str) -> Self {
        let name = format!("kcn_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = admin(server_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {DATABASE_URL_VAR}: {e}"));
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let _ = conn.close().await;
        Self {
            url: database_url(server_url, &name),
            server_url: server_url.to_owned(),
            name,
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name (`kcn_test_<uuid>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of the server it lives on (`KCN_TEST_DATABASE_URL`).
    pub fn server_url(&self) -> &str {
        &self.server_url
    }
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        // A `Drop` cannot await, and the test's runtime may be the one unwinding (or blocked by this
        // very call): the drop runs on a thread of its own, with its own runtime and connection.
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut conn = admin(&server_url).await.map_err(|e| e.to_string())?;
                let dropped = sqlx::raw_sql(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
                let _ = conn.close().await;
                dropped
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => note(&format!(
                "could not drop the test database {}: {e}",
                self.name
            )),
            Err(_) => note(&format!("could not drop the test database {}", self.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_url_keeps_everything_but_the_path() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "kcn_test_x"),
            "postgres://postgres@127.0.0.1:5432/kcn_test_x"
        );
        assert_eq!(
            database_url("postgres://u:p@host:5432?sslmode=disable", "d"),
            "postgres://u:p@host:5432/d?sslmode=disable"
        );
        assert_eq!(
            database_url("postgresql:///postgres?host=/run/postgresql", "d"),
            "postgresql:///d?host=/run/postgresql"
        );
        assert_eq!(
            database_url("postgres://u@h:1/a/b", "d"),
            "postgres://u@h:1/d"
        );
    }
}
