//! The hall print agent (docs/architecture.md, "The hall agent"): an HTTP client of the "Hall agents" routes with its own
//! small journal. It never touches the server's database.
//!
//! Where to start: `run.rs` is the loop (claim, check, print, report, recover); `journal.rs`
//! the local SQLite journal and the restart rules; `document_qr.rs` reads the QR code
//! back out of the PDF before it is printed; `serial.rs` the tray's serial arithmetic;
//! `print.rs` the print command; `trust.rs` the pinned trust list; `api.rs` the wire shapes;
//! `cli.rs` the `crosscert agent ...` command line.

pub mod api;
pub mod cli;
pub mod document_qr;
pub mod journal;
pub mod kiosk;
pub mod print;
pub mod run;
mod schema;
pub mod serial;
pub mod trust;
