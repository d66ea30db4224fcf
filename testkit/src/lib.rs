//! Shared test helpers of the kcn-ledger workspace, for its test suites only: never a normal
//! dependency of a shipping crate (every crate names it under `[dev-dependencies]`, and
//! `tests/dev_only.rs` checks that).
//!
//! - [`postgres`]: a fresh PostgreSQL database per test on the server of `KCN_TEST_DATABASE_URL`, with
//!   the one skip rule of every suite (`KCN_TEST_SKIP_POSTGRES=1`).
//! - [`database`]: a fresh log database of either backend.
//! - [`log`]: fixtures built from the domain's event structs, appended to a real log with real
//!   positions, stream versions and tree hashes.

pub mod database;
pub mod log;
pub mod postgres;

pub use database::{Opened, TestDatabase};
pub use log::{Fixture, Fixtures};
pub use postgres::PgTestDatabase;
