#!/usr/bin/env bash
# Run the test suite. On SQLite by default; with TEST_DATABASE_URL=postgres://... the
# integration tests run against PostgreSQL (each test in a fresh database, dropped after).
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh --test api`).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/install-deps.sh ]; then scripts/install-deps.sh; fi
exec cargo test "$@"
