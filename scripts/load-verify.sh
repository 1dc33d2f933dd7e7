#!/usr/bin/env bash
# Load test of the public verify route: builds release, serves a fresh SQLite database with
# the demo data (rate limit off), issues one real licence through the API, then runs
#   wrk -t2 -c64 -d15s  GET /api/v1/verify?code=<its QR text>
# and prints the figures. Target (docs/performance.md): >= 5,000 req/s, p99 < 20 ms.
#
#   scripts/load-verify.sh            # request logs at warn (RUST_LOG=warn)
#   RUST_LOG=info scripts/load-verify.sh   # with one log line per request, as by default
#   DURATION=30s CONNECTIONS=128 scripts/load-verify.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
export RUST_LOG=${RUST_LOG:-warn}
for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || { echo "load-verify: $tool is needed" >&2; exit 2; }
done

. scripts/lib/server.sh
build_release >&2
DB="sqlite://$WORK/crosscert.db"
PASSWORD="load-verify-$RANDOM$RANDOM"
CROSSCERT_VERIFY_RATE_LIMIT=0 CROSSCERT_DEMO_PASSWORD="$PASSWORD" \
    serve_in_background --demo --database-url "$DB"

# An issuer at 兰山区 (an issuing authority of the demo register).
printf '%s\n' "$PASSWORD" | "$BIN" admin create-user --database-url "$DB" \
    --username loader --role issuer --hall 371302000 --password-stdin 2>/dev/null
TOKEN=$(curl -sf "$BASE/api/v1/sessions" -H 'content-type: application/json' \
    -d "{\"username\":\"loader\",\"password\":\"$PASSWORD\"}" | jq -r .token)
TYPE=$(curl -sf "$BASE/api/v1/cert-types" -H "authorization: Bearer $TOKEN" \
    | jq -r '[.[] | select(.name | startswith("营业执照"))][0].code')
BODY=$(curl -sf "$BASE/api/v1/cert-types/$TYPE" -H "authorization: Bearer $TOKEN" \
    | jq --arg t "$TYPE" '.example + {type_code: $t}')
QR=$(curl -sf "$BASE/api/v1/licences" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d "$BODY" | jq -r .qr_text)
CODE=$(jq -rn --arg q "$QR" '$q | @uri')
URL="$BASE/api/v1/verify?code=$CODE"

VERDICT=$(curl -sf "$URL")
echo "QR text (${#QR} chars): $QR" >&2
echo "verdict: $(jq -c '{authentic, status, reason}' <<<"$VERDICT")" >&2
[ "$(jq -r .valid <<<"$VERDICT")" = true ] || { echo "load-verify: the licence does not verify" >&2; exit 1; }

# Warm up (connections, page cache), then measure.
wrk -t"$THREADS" -c"$CONNECTIONS" -d3s "$URL" >/dev/null
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency GET /api/v1/verify?code=... (RUST_LOG=$RUST_LOG, $(nproc) cores)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$URL"
# Every answer must have been a verdict: no errors, no 5xx.
curl -sf "$BASE/metrics" | grep -E '^http_requests_total\{.*route="/api/v1/verify"' || true
