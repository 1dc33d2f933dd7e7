//! Halls, agreements, routing, print jobs, leases, sheets, stock and pickups.

pub mod agent_auth;
pub mod demo;
pub mod halls;
pub mod jobs;
pub mod notify;
pub mod pickup_key;
pub mod protocol;
pub mod routing;
pub mod stats;
pub mod stock;
pub mod tracking;
pub mod wakeup;
