#!/usr/bin/env bash
# Load test of the hall agent protocol (issue 10): claim -> document -> report cycles per
# second, claim latency and database statements per cycle with 200 idle long-polling agents
# connected, and the database statements per second those idle agents cost (the server's
# db_statements_total; on PostgreSQL also pg_stat_database's transactions). Builds release,
# starts a throw-away server with the demo data, then runs the load client
# benches/agent_load.rs.
# Usage: scripts/load-agent.sh [sqlite|postgres] [JOBS] [WORKERS]
#   DATABASE=sqlite:///path/copy.db scripts/load-agent.sh sqlite   # a register seeded earlier
#     (`crosscert admin seed-load`; use a fresh copy each run: the client adds users and stock)
#   postgres uses PG_BASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) and a
#   fresh database that is dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-sqlite}
export JOBS=${2:-2000} WORKERS=${3:-16} IDLE=${IDLE:-200} IDLE_SECONDS=${IDLE_SECONDS:-60}
. scripts/lib/server.sh
build_release
cargo bench --bench agent_load --no-run --quiet 2>/dev/null
CLIENT=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/agent_load-* | grep -v '\.d$' | head -1)
case "$BACKEND" in
  sqlite) DB=${DATABASE:-"sqlite://$WORK/load.db"}; unset PG_URL || true ;;
  postgres)
    PG_BASE_URL=${PG_BASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    NAME="crosscert_load_$$"
    psql "$PG_BASE_URL" -qc "CREATE DATABASE $NAME"
    on_exit "psql '$PG_BASE_URL' -qc 'DROP DATABASE IF EXISTS $NAME WITH (FORCE)'"
    DB="${PG_BASE_URL%/*}/$NAME"; export PG_URL="$DB" ;;
  *) echo "usage: $0 [sqlite|postgres] [JOBS] [WORKERS]" >&2; exit 2 ;;
esac
export CROSSCERT_DEMO_PASSWORD=load-test-password ADMIN_PASSWORD=load-test-password
export RUST_LOG=warn
serve_in_background --demo --database-url "$DB"
echo "agent load: $BACKEND, $JOBS jobs, $WORKERS busy agents, $IDLE idle agents (release)"
BASE="$BASE" "$CLIENT"
