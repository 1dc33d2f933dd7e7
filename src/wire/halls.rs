//! Halls, their agreements and routing. The hall is the domain's own type.

use serde::{Deserialize, Serialize};

pub use crate::domain::hall::{Agreement, Authority, Hall, HallKind};

/// `GET /api/v1/halls?cert_type=CODE&near=LAT,LON`: without either, every hall; with
/// `cert_type`, those able to print it today (nearest first with `near`, each with
/// `distance_km`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HallsQuery {
    pub cert_type: Option<String>,
    /// `LAT,LON` in degrees.
    pub near: Option<String>,
}

/// A hall in a routing answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoutedHall {
    #[serde(flatten)]
    pub hall: Hall,
    /// Great-circle distance from `near`, one decimal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}
