//! End-to-end tests: the real server on `127.0.0.1:0` with a fresh SQLite file per test, driven
//! through real gRPC clients. All of them build into this one test binary.

mod harness;
mod information_exchange;
mod log;
mod registry;
