//! The certificate catalog: loads and checks `templates-certs/` (102 types and their layout
//! families). A plain library: no database, no HTTP.

pub mod layout;
