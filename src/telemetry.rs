//! Tracing (plain or JSON logs) and the Prometheus metrics recorder.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

/// Install the global subscriber once; later calls (tests) are no-ops.
pub fn init_tracing(json: bool, default_filter: &str) {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
        let registry = tracing_subscriber::registry().with(filter);
        let result = if json {
            registry
                .with(fmt::layer().json().with_writer(std::io::stderr))
                .try_init()
        } else {
            registry
                .with(fmt::layer().with_writer(std::io::stderr))
                .try_init()
        };
        // Another subscriber (a test harness) may already be set: keep it.
        let _ = result;
    });
}

/// The process-wide Prometheus recorder. Installed once: several in-process servers (tests)
/// share it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}
