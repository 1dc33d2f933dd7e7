#!/usr/bin/env bash
# Start-up time with a transparency-log backlog: seeds N licences into a fresh SQLite file
# (`crosscert admin seed-load`), deletes every log entry (as if each licence predated the
# log), and times `crosscert serve` from launch until /healthz answers; the server's log line
# says how many licences the backfill entered. Usage: scripts/measure-log-backfill.sh [N]
# (default 20000; CROSSCERT_BIN picks the binary, default target/debug/crosscert).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-20000}"
BIN="${CROSSCERT_BIN:-target/debug/crosscert}"
PORT="${PORT:-18555}"
WORK="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
export CROSSCERT_ALLOW_EXAMPLE_KEYS=1
DB="sqlite://$WORK/backfill.db"
echo "seeding $N licences ..." >&2
"$BIN" admin seed-load --database-url "$DB" --licences "$N" >&2
python3 - "$WORK/backfill.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("DELETE FROM tlog_entries")
c.commit()
PY
echo "log entries deleted; starting the server ..." >&2
start=$(date +%s.%N)
"$BIN" serve --database-url "$DB" --bind "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
    sleep 0.2
done
end=$(date +%s.%N)
sed 's/\x1b\[[0-9;]*m//g' "$WORK/serve.log" | grep 'transparency log' | grep -o 'licences=[0-9]*' | head -1 | sed 's/^/backfilled /' || true
python3 -c "print(f'start-up with a backlog of $N licences: {$end - $start:.1f} s')"
