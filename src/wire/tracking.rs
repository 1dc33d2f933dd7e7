//! The holder's tracking page as JSON (`GET /api/v1/track/{token}`).

use crate::domain::tracking::HolderState;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a print job is, as the holder is told: nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrackingStatus {
    pub state: HolderState,
    /// 排队中 / 制作中 / 可领取 / 已领取 / 已取消.
    pub state_label: String,
    /// The hall where the certificate is collected.
    pub hall_name: String,
    pub hall_address: String,
    /// Whether it can be collected at the hall's self-service kiosk.
    pub self_service: bool,
    /// The holder's name, masked (张*).
    pub holder_name: String,
}
