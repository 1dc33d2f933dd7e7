//! Integration tests: the real server on port 0, on SQLite or (with TEST_DATABASE_URL) on
//! PostgreSQL.

mod account_lifecycle;
mod accounts;
mod agent;
mod agent_protocol;
mod backup;
mod cli;
mod documents;
mod halls;
mod helpers;
mod keys;
mod kiosk;
mod kiosk_browser;
mod licences;
mod openapi;
mod ops;
mod pades;
mod print_jobs;
mod status_lists;
mod tlog;
mod verify;
mod web;
mod web_browser;
