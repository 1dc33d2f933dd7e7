//! Routing (docs/architecture.md, "Print distribution"): which halls may print a certificate type today, nearest first. The
//! same rule decides whether a print job may be queued or rerouted to a hall.

use crate::catalog::{Catalog, CertType};
use crate::domain::hall::{distance_km, Hall, HallKind};
use crate::storage::{halls, DbConnection, StorageError};
use chrono::NaiveDate;

/// Why a hall may not print a type now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingRefusal {
    HallInactive,
    /// The partner's agreement ended (or the partner has none).
    AgreementExpired,
    /// The partner's agreement has not started yet.
    AgreementNotInForce,
    TypeNotCovered,
}

impl RoutingRefusal {
    pub fn code(self) -> &'static str {
        match self {
            RoutingRefusal::HallInactive => "hall_inactive",
            RoutingRefusal::AgreementExpired => "agreement_expired",
            RoutingRefusal::AgreementNotInForce => "agreement_not_in_force",
            RoutingRefusal::TypeNotCovered => "type_not_covered",
        }
    }

    pub fn message(self, hall: &Hall, cert_type: &CertType) -> String {
        match self {
            RoutingRefusal::HallInactive => format!("hall: the hall {} is not active", hall.code),
            RoutingRefusal::AgreementExpired => match &hall.agreement {
                Some(a) => format!(
                    "hall: the agreement with partner {} ended on {}",
                    hall.code, a.valid_to
                ),
                None => format!("hall: the partner {} has no agreement", hall.code),
            },
            RoutingRefusal::AgreementNotInForce => format!(
                "hall: the agreement with partner {} is not in force yet",
                hall.code
            ),
            RoutingRefusal::TypeNotCovered => format!(
                "hall: the agreement with partner {} does not cover type {} ({})",
                hall.code,
                cert_type.code,
                cert_type.domain.as_str()
            ),
        }
    }
}

/// May `hall` print `cert_type` on `today`? Every active non-partner hall prints every
/// type; a partner only while its agreement is in force and covers the type or its domain.
pub fn check_printable(
    hall: &Hall,
    cert_type: &CertType,
    today: NaiveDate,
) -> Result<(), RoutingRefusal> {
    if !hall.active {
        return Err(RoutingRefusal::HallInactive);
    }
    if hall.kind != HallKind::Partner {
        return Ok(());
    }
    let agreement = hall
        .agreement
        .as_ref()
        .ok_or(RoutingRefusal::AgreementExpired)?;
    if today > agreement.valid_to {
        return Err(RoutingRefusal::AgreementExpired);
    }
    if today < agreement.valid_from {
        return Err(RoutingRefusal::AgreementNotInForce);
    }
    if !agreement
        .covers
        .includes(&cert_type.code, cert_type.domain.as_str())
    {
        return Err(RoutingRefusal::TypeNotCovered);
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A point to measure from: `near=LAT,LON`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    pub lat: f64,
    pub lon: f64,
}

impl Near {
    pub fn parse(s: &str) -> Result<Near, RoutingError> {
        let bad = || RoutingError::Invalid {
            field: "near",
            message: "must be LAT,LON in degrees (latitude -90..90, longitude -180..180)".into(),
        };
        let (lat, lon) = s.split_once(',').ok_or_else(bad)?;
        let lat: f64 = lat.trim().parse().map_err(|_| bad())?;
        let lon: f64 = lon.trim().parse().map_err(|_| bad())?;
        // NaN and infinities fall outside both ranges.
        let in_range = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        if !in_range {
            return Err(bad());
        }
        Ok(Near { lat, lon })
    }
}

pub use crate::wire::halls::RoutedHall;

/// `GET /api/v1/halls?cert_type=CODE[&near=LAT,LON]`: the halls able to print the type
/// today, nearest first when `near` is given (else by code).
pub fn printable_halls(
    conn: &mut DbConnection,
    catalog: &Catalog,
    cert_type: Option<&str>,
    near: Option<&str>,
    today: NaiveDate,
) -> Result<Vec<RoutedHall>, RoutingError> {
    let code = cert_type.ok_or_else(|| RoutingError::Invalid {
        field: "cert_type",
        message: "is required to find the halls that print a type".into(),
    })?;
    let cert_type = catalog.get(code).ok_or_else(|| RoutingError::Invalid {
        field: "cert_type",
        message: format!("no certificate type with code {code}"),
    })?;
    let near = near.map(Near::parse).transpose()?;
    let mut routed: Vec<RoutedHall> = halls::list_halls(conn)?
        .into_iter()
        .filter(|h| check_printable(h, cert_type, today).is_ok())
        .map(|hall| RoutedHall {
            distance_km: near.map(|p| distance_km(p.lat, p.lon, hall.lat, hall.lon)),
            hall,
        })
        .collect();
    // Sort on the exact distance, then round for display.
    routed.sort_by(|a, b| {
        a.distance_km
            .unwrap_or(0.0)
            .total_cmp(&b.distance_km.unwrap_or(0.0))
            .then_with(|| a.hall.code.cmp(&b.hall.code))
    });
    for r in &mut routed {
        r.distance_km = r.distance_km.map(|d| (d * 10.0).round() / 10.0);
    }
    Ok(routed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_accepts_two_numbers_in_range() {
        assert_eq!(
            Near::parse("35.1, 118.3").unwrap(),
            Near {
                lat: 35.1,
                lon: 118.3
            }
        );
        for bad in [
            "", "35.1", "35.1,", "a,b", "91,0", "0,181", "NaN,0", "inf,0", "1,2,3", "35.1;118",
        ] {
            assert!(Near::parse(bad).is_err(), "{bad}");
        }
    }
}
