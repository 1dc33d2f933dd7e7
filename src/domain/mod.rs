//! Pure types: holder codes, licence numbers and identifiers, copies, seal claims, job
//! states. Nothing here does I/O or knows about diesel, the HTTP layer, ring or printpdf.

pub mod codes;
pub mod copy;
pub mod hall;
pub mod job;
pub mod licence;
pub mod role;
pub mod seal;
pub mod status_list;
pub mod stock;
pub mod tlog;
pub mod tracking;
