//! Security stock: batches of numbered blank sheets per hall.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/stock-batches` (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterBatchRequest {
    pub hall: String,
    /// The first sheet's serial, e.g. `LY00000001`.
    pub first_serial: String,
    pub count: i64,
}

/// A registered batch as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchView {
    pub id: i64,
    pub hall: String,
    pub first_serial: String,
    pub last_serial: String,
    pub count: i32,
    pub created_at: String,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Inventory {
    pub hall: String,
    pub batches: Vec<BatchView>,
    pub registered: i64,
    pub printed: i64,
    pub voided: i64,
    pub left: i64,
}
