#!/usr/bin/env bash
# The renderer against its peer (issue 5): the same business licence (its example record, with
# the 800-character 经营范围, a seal and a QR code) as
#   - crosscert's specimen preview over HTTP: POST /api/v1/cert-types/{code}/preview, and
#   - an HTML page of the same content printed to PDF by headless Chromium
#     (`chromium --headless --print-to-pdf`, one process start per document, as a
#     wkhtmltopdf-style service does).
# Prints the median wall time of each and the peak memory (server VmHWM; Chromium's largest
# process). Needs a release build and Debian's chromium (scripts/install-deps.sh).
# Usage: scripts/peer-chromium.sh [PREVIEWS] [CHROMIUM_RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
PREVIEWS=${1:-50}
RUNS=${2:-5}
command -v chromium >/dev/null || { echo "chromium is needed (scripts/install-deps.sh)" >&2; exit 2; }
. scripts/lib/server.sh
build_release
DB="sqlite://$WORK/peer.db"
export RUST_LOG=warn
# The example key set without --demo (the script loads its own data).
export CROSSCERT_ALLOW_EXAMPLE_KEYS=1
# Set and empty: no role needs a second factor (the server requires one of issuers by
# default, and this throw-away account has none enrolled).
export CROSSCERT_REQUIRE_TOTP_FOR=
"$BIN" seed-demo --database-url "$DB" 2>/dev/null
echo "peer-test-password" | "$BIN" admin create-user --database-url "$DB" --username peer --role issuer --hall 371302000 --password-stdin 2>/dev/null
serve_in_background --database-url "$DB"
python3 - "$BASE" "$SERVER_PID" "$WORK" "$PREVIEWS" "$RUNS" <<'PY'
import json, os, resource, statistics, subprocess, sys, time, urllib.request

base, server_pid, work, previews, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def call(method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req) as r:
        return r.read()

token = json.loads(call("POST", "/api/v1/sessions", {"username": "peer", "password": "peer-test-password"}))["token"]
types = json.loads(call("GET", "/api/v1/cert-types", token=token))
code = next(t["code"] for t in types if t["name"].startswith("营业执照"))
detail = json.loads(call("GET", f"/api/v1/cert-types/{code}", token=token))
example = detail["example"]

# crosscert: sequential previews over HTTP (one connection per request, as a browser would).
times = []
for i in range(previews + 3):
    t0 = time.perf_counter()
    pdf = call("POST", f"/api/v1/cert-types/{code}/preview", example, token)
    if i >= 3:  # the first few warm the caches
        times.append(time.perf_counter() - t0)
    assert pdf.startswith(b"%PDF"), pdf[:40]
with open(f"/proc/{server_pid}/status") as f:
    hwm = next(l.split()[1] for l in f if l.startswith("VmHWM"))
ours = statistics.median(times)
print(f"crosscert preview over HTTP: median {ours*1000:.1f} ms, p90 "
      f"{sorted(times)[int(len(times)*0.9)]*1000:.1f} ms over {len(times)}; "
      f"{len(pdf)} bytes; server peak RSS {int(hwm)//1024} MiB")

# The peer: the same content as an HTML certificate, printed by headless Chromium.
fields = "".join(
    f"<tr><th>{f['label']}</th><td>{example['fields'].get(f['key'], '')}</td></tr>"
    for f in detail["fields"])
modules = "".join(
    f'<rect x="{x}" y="{y}" width="1" height="1"/>'
    for y in range(57) for x in range(57) if (x * 7 + y * 13 + x * y) % 3 == 0)
html = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>
@page {{ size: A4 landscape; margin: 0 }}
body {{ margin: 0; font-family: "Noto Serif CJK SC", serif; }}
.frame {{ position: absolute; inset: 12mm; border: 2.5mm double #b8860b; padding: 10mm 16mm; }}
h1 {{ text-align: center; font-family: "Noto Sans CJK SC"; font-size: 30pt; letter-spacing: .4em; margin: 0 0 6mm }}
table {{ width: 62%; border-collapse: collapse; font-size: 10.5pt }} th {{ text-align: justify; width: 22mm; vertical-align: top; padding: 1.2mm 3mm 1.2mm 0 }}
td {{ padding: 1.2mm 0 }} .qr {{ position: absolute; left: 20mm; bottom: 20mm; width: 32mm }}
.seal {{ position: absolute; right: 30mm; bottom: 18mm; width: 42mm }} .foot {{ position: absolute; right: 32mm; bottom: 14mm }}
</style></head><body><div class="frame"><h1>营业执照</h1>
<p>统一社会信用代码 {example['holder']['code']}</p><p>名称 {example['holder']['name']}</p>
<table>{fields}</table>
<svg class="qr" viewBox="-4 -4 65 65"><rect x="-4" y="-4" width="65" height="65" fill="#fff"/>{modules}</svg>
<svg class="seal" viewBox="0 0 100 100"><circle cx="50" cy="50" r="46" fill="none" stroke="#d00" stroke-width="3"/>
<path id="rim" d="M 14 50 A 36 36 0 1 1 86 50" fill="none"/><text fill="#d00" font-size="9"><textPath href="#rim">示范市市场监督管理局</textPath></text>
<polygon fill="#d00" points="50,30 55,45 71,45 58,54 63,70 50,60 37,70 42,54 29,45 45,45"/></svg>
<p class="foot">登记机关（盖章）　{example['valid_from']}</p></div></body></html>"""
page = os.path.join(work, "licence.html")
with open(page, "w", encoding="utf-8") as f:
    f.write(html)
walls = []
for i in range(runs):
    out = os.path.join(work, f"peer-{i}.pdf")
    t0 = time.perf_counter()
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    "--disable-dev-shm-usage", f"--user-data-dir={work}/profile", f"--print-to-pdf={out}",
                    "file://" + page], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    walls.append(time.perf_counter() - t0)
    assert open(out, "rb").read(4) == b"%PDF"
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
peer = statistics.median(walls)
print(f"headless Chromium print-to-pdf: median {peer*1000:.0f} ms over {runs}; "
      f"{os.path.getsize(out)} bytes; largest process peak RSS {peak} MiB")
print(f"crosscert is {peer/ours:.0f} times faster (aim: at least 20)")
PY
