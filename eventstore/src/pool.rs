//! How the store's connection pools treat a connection coming back from use: never reused while
//! still inside a transaction.
//!
//! A transaction whose COMMIT fails is dropped, and sqlx then queues a ROLLBACK. When the database
//! already ended the transaction itself (SQLite does so on `SQLITE_FULL`, disk full), that ROLLBACK
//! fails ("no transaction is active"), sqlx's transaction depth stays at one, and the connection
//! goes back to the pool believing it is mid-transaction: every later `BEGIN IMMEDIATE` on it fails
//! with "attempted to call begin_with at non-zero transaction depth", and the writer is wedged
//! until a restart. [`never_reuse_mid_transaction`], installed as every pool's `after_release`
//! hook, closes such a connection instead; the pool opens a fresh one when it is next needed.

use futures::future::BoxFuture;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::{Connection, Database};

/// The `after_release` hook of every pool of the store (and usable by any other pool on the same
/// database, such as the read models'): flushes what the connection still has queued (a ROLLBACK
/// of a dropped transaction runs now), then keeps the connection only if it is outside any
/// transaction.
///
/// ```no_run
/// # async fn example() -> Result<(), sqlx::Error> {
/// let pool = sqlx::sqlite::SqlitePoolOptions::new()
///     .after_release(kcn_eventstore::pool::never_reuse_mid_transaction::<sqlx::Sqlite>)
///     .connect("sqlite::memory:")
///     .await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The ping's error: sqlx then closes the connection without ceremony.
pub fn never_reuse_mid_transaction<DB: Database>(
    conn: &mut DB::Connection,
    _meta: PoolConnectionMetadata,
) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        conn.ping().await?;
        let clean = !conn.is_in_transaction();
        if !clean {
            tracing::warn!(
                "a database connection came back inside a transaction (its commit or rollback \
                 failed); closing it rather than reusing it"
            );
        }
        Ok(clean)
    })
}
