//! Public verification and the trust list.

use serde::{Deserialize, Serialize};

pub use crate::verification::trust::{TrustList, TrustListSigner};
pub use crate::verification::verdict::{HolderSummary, LicenceSummary, Reason, Verdict};

/// `GET /api/v1/verify?code=QR-TEXT`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// The text of the licence's QR code, up to 4 KB.
    pub code: Option<String>,
}
