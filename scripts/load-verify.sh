#!/usr/bin/env bash
# Load test of the public verify route: builds release, serves a fresh SQLite database with
# the demo data (rate limit off) and measures GET /api/v1/verify?code=... with wrk.
#
# Realistic mix (the default, MIX=realistic): `crosscert admin seed-load` fills the database
# with LICENCES licences (real seals, ~1% revoked, 0.5% suspended, 2% superseded) and writes a
# uniform sample of DISTINCT of their QR texts; the requests draw those licences with a
# Zipf(ZIPF_S) popularity (a few licences on shop walls scanned all day), 2% of them junk or
# forged codes (bytes of a genuine seal changed, or random Base32). wrk replays the paths
# from a file (Lua). Meanwhile a checker spot-checks verdicts: no valid verdict for a
# revoked, suspended, superseded, expired or forged code, a valid one for a valid licence;
# the script fails if any answer was untruthful.
#
#   scripts/load-verify.sh                       # LICENCES=100000 DISTINCT=10000, 15 s
#   LICENCES=1000000 scripts/load-verify.sh
#   SHORT=1 scripts/load-verify.sh               # quick: 2,000 licences, 1,000 codes, 3 s
#   DATABASE=sqlite:///tmp/x.db CODES_FILE=/tmp/codes.tsv scripts/load-verify.sh  # seeded earlier
#   MIX=single scripts/load-verify.sh            # the earlier figure: one code over and over
#   DATABASE=postgres://postgres@127.0.0.1:5432/x scripts/load-verify.sh   # an empty PG db
#   RUST_LOG=info scripts/load-verify.sh         # with one log line per request
set -euo pipefail
cd "$(dirname "$0")/.."

MIX=${MIX:-realistic}
if [ "${SHORT:-0}" = 1 ]; then
    DURATION=${DURATION:-3s}; LICENCES=${LICENCES:-2000}; DISTINCT=${DISTINCT:-1000}
fi
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
LICENCES=${LICENCES:-100000}
DISTINCT=${DISTINCT:-10000}
ZIPF_S=${ZIPF_S:-1.1}
JUNK=${JUNK:-0.02}
export RUST_LOG=${RUST_LOG:-warn}
for tool in wrk curl jq python3; do
    command -v "$tool" >/dev/null || { echo "load-verify: $tool is needed (apt-get install $tool)" >&2; exit 2; }
done

. scripts/lib/server.sh
if [ -n "${CROSSCERT_BIN:-}" ]; then
    cp "$CROSSCERT_BIN" "$WORK/crosscert"; BIN="$WORK/crosscert"   # a binary built earlier
else
    build_release >&2
fi
DB=${DATABASE:-"sqlite://$WORK/crosscert.db"}
PASSWORD="load-verify-$RANDOM$RANDOM"
export CROSSCERT_PUBLIC_URL="$BASE"

if [ "$MIX" = single ]; then
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
    wrk -t"$THREADS" -c"$CONNECTIONS" -d3s "$URL" >/dev/null
    echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency GET /api/v1/verify?code=... (one code, RUST_LOG=$RUST_LOG, $(nproc) cores)"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$URL"
    curl -sf "$BASE/metrics" | grep -E '^http_requests_total\{.*route="/api/v1/verify"' || true
    exit 0
fi

# The database: halls, then the licences (timed), then the server on it. CODES_FILE (with
# DATABASE) reuses a database seeded earlier and the --codes-out file of that seeding.
export CROSSCERT_ALLOW_EXAMPLE_KEYS=1
if [ -n "${CODES_FILE:-}" ]; then
    cp "$CODES_FILE" "$WORK/codes.tsv"
else
    "$BIN" migrate --database-url "$DB" 2>/dev/null
    echo "seeding: crosscert admin seed-load --licences $LICENCES --codes $DISTINCT" >&2
    "$BIN" admin seed-load --database-url "$DB" --licences "$LICENCES" \
        --codes-out "$WORK/codes.tsv" --codes "$DISTINCT" 2>&1 | tail -n 3 >&2
fi
START=$(date +%s.%N)
CROSSCERT_VERIFY_RATE_LIMIT=0 CROSSCERT_DEMO_PASSWORD="$PASSWORD" \
    serve_in_background --demo --database-url "$DB"
echo "server ready $(python3 -c "print(f'{$(date +%s.%N) - $START:.1f}')") s after start (migrations, status lists, log backfill)" >&2

# The request paths: Zipf over the sampled licences, JUNK of them junk or forged.
python3 - "$WORK/codes.tsv" "$WORK/paths.txt" "$WORK/expect.tsv" "$ZIPF_S" "$JUNK" <<'PY'
import base64, bisect, random, sys, urllib.parse
codes_file, paths_file, expect_file, s, junk = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
rows = [l.rstrip("\n").split("\t", 1) for l in open(codes_file) if l.strip()]
random.seed(20261205)
random.shuffle(rows)                      # popularity independent of status
weights, total = [], 0.0
for k in range(1, len(rows) + 1):
    total += 1.0 / k ** s
    weights.append(total)

def forged(qr):
    head, payload = qr.rsplit("/V/", 1)
    raw = bytearray(base64.b32decode(payload + "=" * (-len(payload) % 8)))
    i = random.randrange(len(raw) - 64, len(raw)) if random.random() < 0.5 else random.randrange(20, len(raw) - 70)
    raw[i] ^= 1 << random.randrange(8)    # one bit of the signature or of the claims
    return head + "/V/" + base64.b32encode(bytes(raw)).decode().rstrip("=")

def junk_code():
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "".join(random.choice(alphabet) for _ in range(random.randrange(8, 700)))

n = 200_000
counts = {}
with open(paths_file, "w") as out, open(expect_file, "w") as exp:
    for _ in range(n):
        if random.random() < junk:
            code, status = (forged(random.choice(rows)[1]), "forged") if random.random() < 0.5 else (junk_code(), "junk")
        else:
            status, code = rows[bisect.bisect_left(weights, random.random() * total)]
        counts[status] = counts.get(status, 0) + 1
        out.write("/api/v1/verify?code=" + urllib.parse.quote(code, safe="") + "\n")
    for status, code in rows:
        exp.write(f"{status}\t{code}\n")
    for _ in range(200):
        exp.write(f"forged\t{forged(random.choice(rows)[1])}\n")
top = 1.0 / total
print(f"paths: {n} requests over {len(rows)} licences, Zipf({s}) (most popular {100*top:.1f}% of requests), mix {dict(sorted(counts.items()))}", file=sys.stderr)
PY

# The spot-checker: verdicts of known codes while wrk runs (half of them not valid).
python3 - "$BASE" "$WORK/expect.tsv" "$WORK/stop" >"$WORK/checks.txt" <<'PY' &
import json, os, random, sys, time, urllib.parse, urllib.request
base, expect_file, stop = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [l.rstrip("\n").split("\t", 1) for l in open(expect_file) if l.strip()]
good = [r for r in rows if r[0] == "valid"]
bad = [r for r in rows if r[0] != "valid"]
checked, wrong = 0, []
while not os.path.exists(stop):
    status, code = random.choice(bad if random.random() < 0.5 or not good else good)
    try:
        v = json.load(urllib.request.urlopen(base + "/api/v1/verify?code=" + urllib.parse.quote(code, safe=""), timeout=10))
    except Exception as e:
        wrong.append(f"{status}: request failed: {e}"); continue
    checked += 1
    ok = v.get("valid") is True if status == "valid" else (v.get("valid") is False and (status == "forged" or v.get("reason") == status))
    if not ok:
        wrong.append(f"expected {status}, got valid={v.get('valid')} reason={v.get('reason')}")
    time.sleep(0.02)
print(f"truthfulness: {checked} verdicts spot-checked during the run, {len(wrong)} untruthful")
for w in wrong[:10]:
    print("  " + w)
PY
CHECKER=$!

cat >"$WORK/paths.lua" <<LUA
local paths = {}
local n, i = 0, 0
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  for line in io.lines("$WORK/paths.txt") do n = n + 1; paths[n] = line end
  i = (id or 1) * 7919 % n    -- threads start at different places in the file
end
function request()
  i = i % n + 1
  return wrk.format("GET", paths[i])
end
LUA

# Warm up (connections, page cache), then measure.
wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s "$WORK/paths.lua" "$BASE" >/dev/null
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s paths.lua (realistic mix, ${CODES_FILE:+a database seeded earlier, }${CODES_FILE:-$LICENCES licences seeded}, RUST_LOG=$RUST_LOG, $(nproc) cores)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/paths.lua" "$BASE"
touch "$WORK/stop"
wait "$CHECKER" || true
cat "$WORK/checks.txt"
echo "server RSS after the run: $(awk '/VmRSS|VmHWM/ {printf "%s %s %s  ", $1, $2, $3}' "/proc/$SERVER_PID/status")"
curl -sf "$BASE/metrics" | grep -E '^http_requests_total\{.*route="/api/v1/verify"|^db_statements_total|^verify_seal_cache_total' || true
grep -q ' 0 untruthful' "$WORK/checks.txt" || { echo "load-verify: untruthful verdicts" >&2; exit 1; }
