//! SQL helpers the read models share: statements whose table names are built at run time from a
//! [`super::Generation`], and the bound values of statements assembled from optional filters.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyConnection};

use crate::error::ProjectionError;

/// Runs a statement built at run time (table names from a generation); the SQL text never holds
/// caller data, which is always bound.
pub fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

/// A page size as bound into `LIMIT`.
pub(crate) fn limit(n: u32) -> i64 {
    i64::from(n)
}

/// A value bound to a statement built at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    Text(Option<String>),
    Int(Option<i64>),
}

/// The bound values of a statement built at run time, numbered `$1, $2…` in the order they are
/// added (sqlx's `QueryBuilder` writes `?` for the `Any` driver, which PostgreSQL does not accept).
#[derive(Debug, Default)]
pub(crate) struct Args(Vec<Bind>);

impl Bind {
    /// A text value.
    pub(crate) fn text(s: &str) -> Self {
        Self::Text(Some(s.to_owned()))
    }
}

impl Args {
    /// These values, in order.
    pub(crate) fn from_binds(binds: Vec<Bind>) -> Self {
        Self(binds)
    }

    /// Adds a text value; returns its placeholder.
    pub(crate) fn text(&mut self, v: impl Into<String>) -> String {
        self.push(Bind::Text(Some(v.into())))
    }

    /// Adds an optional text value; returns its placeholder.
    pub(crate) fn opt_text(&mut self, v: Option<String>) -> String {
        self.push(Bind::Text(v))
    }

    /// Adds an integer value; returns its placeholder.
    pub(crate) fn int(&mut self, v: i64) -> String {
        self.push(Bind::Int(Some(v)))
    }

    /// Adds an optional integer value; returns its placeholder.
    pub(crate) fn opt_int(&mut self, v: Option<i64>) -> String {
        self.push(Bind::Int(v))
    }

    fn push(&mut self, b: Bind) -> String {
        self.0.push(b);
        format!("${}", self.0.len())
    }

    /// Binds every value, in order, to a query.
    pub(crate) fn bind<'q>(
        self,
        mut q: sqlx::query::Query<'q, Any, AnyArguments>,
    ) -> sqlx::query::Query<'q, Any, AnyArguments> {
        for b in self.0 {
            q = match b {
                Bind::Text(v) => q.bind(v),
                Bind::Int(v) => q.bind(v),
            };
        }
        q
    }

    /// Runs `statement` with these values and returns its rows.
    pub(crate) async fn fetch_all(
        self,
        conn: &mut AnyConnection,
        statement: String,
    ) -> Result<Vec<AnyRow>, ProjectionError> {
        Ok(self
            .bind(sqlx::query(sql(statement)))
            .fetch_all(conn)
            .await?)
    }

    /// Runs `statement` with these values.
    pub(crate) async fn execute(
        self,
        conn: &mut AnyConnection,
        statement: String,
    ) -> Result<(), ProjectionError> {
        self.bind(sqlx::query(sql(statement))).execute(conn).await?;
        Ok(())
    }
}
