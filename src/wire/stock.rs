//! Security stock: batches of numbered blank sheets per hall.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::distribution::stock::{BatchView, Inventory};

/// `POST /api/v1/stock-batches` (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterBatchRequest {
    pub hall: String,
    /// The first sheet's serial, e.g. `LY00000001`.
    pub first_serial: String,
    pub count: i64,
}
