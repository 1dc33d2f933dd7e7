#!/usr/bin/env bash
# Load test: licences issued per second over HTTP on SQLite (issue 7's figure: >= 500/s with
# p99 < 50 ms on a 2-core machine). Builds release, starts a throw-away server with demo data,
# creates an issuer, then runs wrk POSTing the business licence's example record (800-character
# 经营范围) for DURATION seconds. Usage: scripts/load-issue.sh [DURATION] [CONNECTIONS]
#   DATABASE=sqlite:///path/big.db scripts/load-issue.sh   # a register seeded earlier
#     (`crosscert admin seed-load`; the licences issued here are added to it)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
CONNECTIONS=${2:-16}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }
. scripts/lib/server.sh
build_release
DB=${DATABASE:-"sqlite://$WORK/load.db"}
case "$DB" in sqlite://*) ;; *) echo "load-issue: DATABASE must be sqlite://PATH" >&2; exit 2 ;; esac
export CROSSCERT_DEMO_PASSWORD=load-test-password
export RUST_LOG=warn
# The example key set without --demo (the script loads its own data).
export CROSSCERT_ALLOW_EXAMPLE_KEYS=1
# The loader signs in with a password alone (issuers need a second factor by default).
export CROSSCERT_REQUIRE_TOTP_FOR=
"$BIN" seed-demo --database-url "$DB" 2>/dev/null
# (Already there when DATABASE was used before: then its password is this one too.)
echo "load-test-password" | "$BIN" admin create-user --database-url "$DB" --username loader --role issuer --hall 371302000 --password-stdin 2>/dev/null || true
serve_in_background --database-url "$DB"
TOKEN=$(curl -sf "$BASE/api/v1/sessions" -H 'content-type: application/json' \
  -d '{"username":"loader","password":"load-test-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
CODE=$(curl -sf "$BASE/api/v1/cert-types" -H "authorization: Bearer $TOKEN" \
  | python3 -c 'import json,sys; print([t["code"] for t in json.load(sys.stdin) if t["name"].startswith("营业执照")][0])')
curl -sf "$BASE/api/v1/cert-types/$CODE" -H "authorization: Bearer $TOKEN" \
  | python3 -c "import json,sys; e=json.load(sys.stdin)['example']; e['type_code']='$CODE'; print(json.dumps(e, ensure_ascii=False))" >"$WORK/body.json"
cat >"$WORK/issue.lua" <<LUA
wrk.method = "POST"
local f = io.open("$WORK/body.json", "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
function done(summary, latency, requests)
  io.write(string.format("issued: %d non-2xx/3xx: %d\n", summary.requests, summary.errors.status))
end
LUA
echo "wrk -t2 -c$CONNECTIONS -d${DURATION}s POST /api/v1/licences (SQLite, release)"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/issue.lua" "$BASE/api/v1/licences"
python3 - "${DB#sqlite://}" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n, distinct = c.execute("select count(*), count(distinct licence_no) from licences").fetchone()
print(f"licences in the register: {n}, distinct numbers: {distinct}")
PY
