#!/usr/bin/env bash
# Does a login flood slow the other routes? Builds release, serves a fresh SQLite database
# with the demo data (production argon2 cost: 19 MiB, 2 passes), issues one licence, then for
# DURATION seconds keeps CONCURRENCY logins in flight, one account each (right password:
# nothing is throttled and every login costs a full hash; attempts in flight count against
# their (username, address) pair, so one shared account would mostly get 429) while probing
# GET /readyz and the verify API one request at a time, and prints the probes' latency
# (p50, p95, p99, max) and the logins' answers. Target (issue 18): probes under 100 ms
# during 40 parallel logins.
#
#   scripts/load-login-flood.sh
#   CONCURRENCY=80 DURATION=20 scripts/load-login-flood.sh
#   CROSSCERT_BIN=target/debug/crosscert scripts/load-login-flood.sh   # no release build
#     (dependencies, argon2 among them, are built at opt-level 2 in debug too)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15}
CONCURRENCY=${CONCURRENCY:-40}
export RUST_LOG=${RUST_LOG:-warn}
for tool in curl jq python3; do
    command -v "$tool" >/dev/null || { echo "load-login-flood: $tool is needed" >&2; exit 2; }
done

. scripts/lib/server.sh
if [ -n "${CROSSCERT_BIN:-}" ]; then
    cp "$CROSSCERT_BIN" "$WORK/crosscert"
    BIN="$WORK/crosscert"
else
    build_release >&2
fi
DB="sqlite://$WORK/crosscert.db"
PASSWORD="load-login-$RANDOM$RANDOM"
CROSSCERT_VERIFY_RATE_LIMIT=0 CROSSCERT_DEMO_PASSWORD="$PASSWORD" \
    serve_in_background --demo --database-url "$DB"

printf '%s\n' "$PASSWORD" | "$BIN" admin create-user --database-url "$DB" \
    --username loader --role issuer --hall 371302000 --password-stdin 2>/dev/null
echo "creating $CONCURRENCY accounts for the flood..." >&2
for i in $(seq 1 "$CONCURRENCY"); do
    printf '%s\n' "$PASSWORD" | "$BIN" admin create-user --database-url "$DB" \
        --username "flood$i" --role hall_operator --hall 371302000 --password-stdin 2>/dev/null
done
TOKEN=$(curl -sf "$BASE/api/v1/sessions" -H 'content-type: application/json' \
    -d "{\"username\":\"loader\",\"password\":\"$PASSWORD\"}" | jq -r .token)
TYPE=$(curl -sf "$BASE/api/v1/cert-types" -H "authorization: Bearer $TOKEN" \
    | jq -r '[.[] | select(.name | startswith("营业执照"))][0].code')
BODY=$(curl -sf "$BASE/api/v1/cert-types/$TYPE" -H "authorization: Bearer $TOKEN" \
    | jq --arg t "$TYPE" '.example + {type_code: $t}')
QR=$(curl -sf "$BASE/api/v1/licences" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d "$BODY" | jq -r .qr_text)
CODE=$(jq -rn --arg q "$QR" '$q | @uri')

echo "flood: $CONCURRENCY parallel logins for ${DURATION}s ($(nproc) cores, RUST_LOG=$RUST_LOG); probes: /readyz and /api/v1/verify, one at a time"
BASE="$BASE" PASSWORD="$PASSWORD" CODE="$CODE" DURATION="$DURATION" CONCURRENCY="$CONCURRENCY" python3 - <<'PY'
import json, os, threading, time, urllib.request, urllib.error, collections

base, password = os.environ["BASE"], os.environ["PASSWORD"]
duration, concurrency = float(os.environ["DURATION"]), int(os.environ["CONCURRENCY"])
verify_url = f"{base}/api/v1/verify?code={os.environ['CODE']}"
stop = time.monotonic() + duration
answers = collections.Counter()
login_times = []
lock = threading.Lock()

def login(i):
    body = json.dumps({"username": f"flood{i}", "password": password}).encode()
    while time.monotonic() < stop:
        req = urllib.request.Request(f"{base}/api/v1/sessions", data=body,
                                     headers={"content-type": "application/json"})
        t = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        with lock:
            answers[status] += 1
            login_times.append(time.monotonic() - t)

def probe(url, out):
    while time.monotonic() < stop:
        t = time.monotonic()
        with urllib.request.urlopen(url, timeout=30) as r:
            r.read()
            assert r.status == 200, r.status
        out.append((time.monotonic() - t) * 1000)
        time.sleep(0.02)

readyz, verify = [], []
threads = [threading.Thread(target=login, args=(i + 1,)) for i in range(concurrency)]
threads += [threading.Thread(target=probe, args=(f"{base}/readyz", readyz)),
            threading.Thread(target=probe, args=(verify_url, verify))]
for t in threads: t.start()
for t in threads: t.join()

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]

for name, xs in (("GET /readyz", readyz), ("GET /api/v1/verify", verify)):
    print(f"{name:20} n={len(xs):5}  p50={pct(xs,.5):6.1f} ms  p95={pct(xs,.95):6.1f} ms  "
          f"p99={pct(xs,.99):6.1f} ms  max={max(xs):6.1f} ms")
print(f"logins: {dict(answers)} in {duration:.0f}s = {sum(answers.values())/duration:.1f}/s, "
      f"p50 {pct(login_times,.5)*1000:.0f} ms, max {max(login_times)*1000:.0f} ms")
PY
