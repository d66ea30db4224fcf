//! End-to-end tests: the real server on `127.0.0.1:0` with a fresh SQLite file per test (and, for the
//! scenarios run by `on_both_backends!`, a fresh PostgreSQL database too), driven through real gRPC
//! clients. All of them build into this one test binary.

mod admission;
mod agreement;
mod annual_plan;
mod audit_inspections;
mod audit_registry;
mod auth;
mod backup;
mod breaches;
mod connections;
mod consultation;
mod delivery;
mod directory;
mod dissemination;
mod export;
mod extremes;
mod generate;
mod golden;
mod harness;
mod history;
mod hostile;
mod http_json;
mod incident;
mod information_exchange;
mod inspection;
mod late_facts;
mod log;
mod maintenance;
mod metrics;
mod monitoring;
mod park_reports;
mod procedure;
mod readme;
mod rebuild;
mod registry;
mod schema;
mod scope;
mod service_levels;
mod subscription;
mod succession;
mod tls;
mod transparency;
mod unique_codes;
mod validation;
mod working_days;
