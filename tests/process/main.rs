//! Tests that run the built `kcn-ledger` binary as real processes: two servers sharing one
//! PostgreSQL database under concurrent load, servers killed with SIGKILL mid-load and started
//! again, on SQLite and on PostgreSQL, a server whose disk fills up and frees again, and the
//! server's memory with 100 slow readers, and delivery to an e-government endpoint going on when
//! the delivering server is killed. They live in their own test binary, apart from the
//! in-process end-to-end suite (`tests/api`).
//!
//! PostgreSQL needs `KCN_TEST_DATABASE_URL`; without it the PostgreSQL tests fail, unless
//! `KCN_TEST_SKIP_POSTGRES=1`, which skips them with a printed note.

mod crash;
mod delivery;
mod disk_full;
mod load;
mod memory;
mod operations;
mod server;
mod two_servers;
