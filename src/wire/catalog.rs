//! The certificate types (catalog).

pub use crate::catalog::cert_type::{CertTypeDetail, CertTypeSummary, FieldSummary};
