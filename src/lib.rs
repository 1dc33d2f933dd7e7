//! crosscert: sealed electronic licences, printed at the hall the holder prefers.
//!
//! Where to start: `main.rs` parses the command line and runs a subcommand; `startup.rs`
//! builds the HTTP server; `routes/` holds thin handlers that call the service modules
//! (`accounts`, `registration`, `distribution`, `verification`). `storage/` is the only diesel
//! code, `issuance/` the only code that holds a private key, `render/` draws the PDFs and
//! `catalog/` loads the 102 certificate types from `templates-certs/`.

pub mod accounts;
pub mod agent;
pub mod archive;
pub mod backup;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod demo;
pub mod dept;
pub mod distribution;
pub mod documents;
pub mod domain;
pub mod electronic;
pub mod error;
pub mod issuance;
pub mod licence_view;
pub mod published;
pub mod registration;
pub mod render;
pub mod routes;
pub mod seed_load;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod tlog;
pub mod tls;
pub mod verification;
pub mod web;
pub mod wire;
