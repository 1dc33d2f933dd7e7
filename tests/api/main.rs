//! Integration tests: the real server on port 0, on SQLite or (with TEST_DATABASE_URL) on
//! PostgreSQL.

mod account_lifecycle;
mod accounts;
mod agent;
mod agent_protocol;
mod backup;
mod cli;
mod dept;
mod dept_web;
mod documents;
mod halls;
mod helpers;
mod keys;
mod licences;
mod load;
mod openapi;
mod ops;
mod pades;
mod print_jobs;
mod status_lists;
mod tlog;
mod tracking;
mod verify;
mod web;
mod web_browser;
mod web_prefill;
