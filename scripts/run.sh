#!/usr/bin/env bash
# Start crosscert with demo data on SQLite (data/crosscert.db), at http://127.0.0.1:8080.
# The demo administrator is `admin`; its password is CROSSCERT_DEMO_PASSWORD, or random and
# printed once on the first start.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/install-deps.sh ]; then scripts/install-deps.sh; fi
exec cargo run --release -- serve --demo "$@"
