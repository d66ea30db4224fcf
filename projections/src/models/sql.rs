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
        let (statement, args) = self.for_backend(conn, statement)?;
        Ok(args
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
        let (statement, args) = self.for_backend(conn, statement)?;
        args.bind(sqlx::query(sql(statement))).execute(conn).await?;
        Ok(())
    }

    /// Runs `statement` with these values; returns the rows it changed.
    pub(crate) async fn execute_count(
        self,
        conn: &mut AnyConnection,
        statement: String,
    ) -> Result<u64, ProjectionError> {
        let (statement, args) = self.for_backend(conn, statement)?;
        Ok(args
            .bind(sqlx::query(sql(statement)))
            .execute(conn)
            .await?
            .rows_affected())
    }

    /// The statement as the connection's database binds it fastest. On SQLite, `$N` placeholders
    /// become anonymous `?` with the values in the order they appear: SQLite looks a numbered
    /// parameter's name up by a linear scan, and sqlx asks for the name of each parameter in turn,
    /// so a multi-row `INSERT` of n values cost n² string comparisons (70% of a rebuild's CPU).
    fn for_backend(
        self,
        conn: &AnyConnection,
        statement: String,
    ) -> Result<(String, Self), ProjectionError> {
        if conn.backend_name() != <sqlx::Sqlite as sqlx::Database>::NAME {
            return Ok((statement, self));
        }
        let (text, order) = anonymous(&statement);
        let mut binds = Vec::with_capacity(order.len());
        for n in order {
            let b = n
                .checked_sub(1)
                .and_then(|i| self.0.get(i))
                .ok_or_else(|| {
                    ProjectionError::Store(kcn_eventstore::StoreError::Internal(format!(
                        "a statement names ${n}, which has no value"
                    )))
                })?;
            binds.push(b.clone());
        }
        Ok((text, Self(binds)))
    }
}

/// `statement` with every `$N` outside quotes replaced by `?`, and the `N`s in order of appearance.
fn anonymous(statement: &str) -> (String, Vec<usize>) {
    let mut text = String::with_capacity(statement.len());
    let mut order = Vec::new();
    let mut quote: Option<char> = None;
    let mut chars = statement.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                text.push(c);
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                text.push(c);
            }
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n.saturating_mul(10).saturating_add(d as usize);
                    chars.next();
                }
                order.push(n);
                text.push('?');
            }
            None => text.push(c),
        }
    }
    (text, order)
}

#[cfg(test)]
mod tests {
    use super::anonymous;

    #[test]
    fn numbered_placeholders_become_anonymous_in_order_of_appearance() {
        let (text, order) =
            anonymous("SELECT '$1', \"$2\" FROM t WHERE a = $2 AND b IN ($1, $10, $2)");
        assert_eq!(
            text,
            "SELECT '$1', \"$2\" FROM t WHERE a = ? AND b IN (?, ?, ?)"
        );
        assert_eq!(order, vec![2, 1, 10, 2]);
    }
}
