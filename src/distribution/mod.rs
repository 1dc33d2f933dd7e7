//! Halls, agreements, routing, print jobs, leases, sheets, stock and pickups.
