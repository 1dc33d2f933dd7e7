#!/usr/bin/env bash
# The fault-injection suite: real `crosscert serve` and `crosscert agent` processes on
# loopback, with faults injected many times (agents SIGKILLed after every journal step, the
# server SIGKILLed, PostgreSQL restarted, the network stalled, the SQLite disk full), then the
# promise checked. Ends with one line:
#     faults N, printed twice 0, reports lost 0, jobs stuck 0, server errors 0
# Usage: scripts/chaos.sh sqlite|postgres     CHAOS_SHORT=1 for the shortened run (CI)
# Needs root for the tmpfs (disk full) and the private PostgreSQL cluster (run as postgres);
# bounded: the suite has its own deadline and `timeout` ends it regardless.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-}
case "$backend" in
    sqlite | postgres) ;;
    *)
        echo "usage: scripts/chaos.sh sqlite|postgres   (CHAOS_SHORT=1: the short run)" >&2
        exit 2
        ;;
esac
if [ -x scripts/install-deps.sh ]; then scripts/install-deps.sh; fi
cargo build --quiet --bin crosscert
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
# A private copy: a target folder shared with other checkouts may relink it meanwhile.
cp "${CARGO_TARGET_DIR:-target}/debug/crosscert" "$bin_dir/crosscert"
if [ "${CHAOS_SHORT:-}" = 1 ]; then limit=${CHAOS_DEADLINE_S:-600}; else limit=${CHAOS_DEADLINE_S:-1500}; fi
export CHAOS_DEADLINE_S=$limit
timeout --kill-after=30 $((limit + 120)) python3 scripts/chaos/chaos.py "$backend" --bin "$bin_dir/crosscert"
