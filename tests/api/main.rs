//! End-to-end tests: the real server on `127.0.0.1:0` with a fresh SQLite file per test, driven
//! through real gRPC clients. All of them build into this one test binary.

mod agreement;
mod annual_plan;
mod audit_inspections;
mod audit_registry;
mod backup;
mod consultation;
mod dissemination;
mod harness;
mod history;
mod hostile;
mod incident;
mod information_exchange;
mod inspection;
mod log;
mod monitoring;
mod park_reports;
mod postgres;
mod procedure;
mod rebuild;
mod registry;
mod schema;
mod succession;
mod transparency;
