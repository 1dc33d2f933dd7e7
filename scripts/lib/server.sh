# A throw-away crosscert server for the load and peer scripts. Source it after `cd` to the
# repository root and `set -euo pipefail`. It provides:
#   WORK                 a temporary folder, removed on exit
#   PORT, BASE           a free port on 127.0.0.1 and the server's base URL
#   build_release        cargo build --release; BIN becomes a private copy of the binary (a
#                        target folder shared with other checkouts may relink it meanwhile)
#   serve_in_background  `$BIN serve ARGS... --bind 127.0.0.1:$PORT`, logging to
#                        $WORK/server.log; returns once /healthz answers (SERVER_PID is set),
#                        fails with the log if the server exits or is silent for 30 s
#   on_exit CMD          run CMD too when the script ends (after the server is stopped)
# The server is stopped when the script ends, however it ends.

WORK=$(mktemp -d)
SERVER_PID=""
EXIT_COMMANDS=()
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"

_server_cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    local cmd
    for cmd in "${EXIT_COMMANDS[@]}"; do eval "$cmd" || true; done
    rm -rf "$WORK"
}
trap _server_cleanup EXIT

on_exit() { EXIT_COMMANDS+=("$1"); }

build_release() {
    cargo build --release --quiet --bin crosscert
    cp "${CARGO_TARGET_DIR:-target}/release/crosscert" "$WORK/crosscert"
    BIN="$WORK/crosscert"
}

serve_in_background() {
    "$BIN" serve "$@" --bind "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    local _
    for _ in $(seq 1 300); do
        curl -sf "$BASE/healthz" >/dev/null 2>&1 && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "the server exited:" >&2
            cat "$WORK/server.log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "the server did not answer /healthz within 30 s:" >&2
    cat "$WORK/server.log" >&2
    return 1
}
