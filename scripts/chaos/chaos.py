#!/usr/bin/env python3
"""The fault-injection suite behind scripts/chaos.sh: real `crosscert serve` and
`crosscert agent` processes on loopback, faults injected many times, then the promise checked
from the server (its API) and from the agents' journals and print logs:

    faults N, printed twice 0, reports lost 0, jobs stuck 0, server errors 0

Faults: the agent SIGKILLed after each journal step (claimed, downloaded, during the print
command, printed before the report, after the report was accepted and again while resending
it); the server SIGKILLed while agents claim and report; PostgreSQL restarted during a claim
storm (a private cluster, so nobody else's database restarts); the network between agents and
server stalled by a proxy that stops forwarding without closing, then drops the connections;
the SQLite database's disk filled up (a small tmpfs).

Only the Python standard library; only 127.0.0.1. Stops by itself: every wait is bounded and
the whole run has a deadline (CHAOS_DEADLINE_S, default 1200 s; chaos.sh adds a hard timeout).
"""

import argparse
import hashlib
import json
import os
import random
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

PASSWORD = "chaos-password-1"
PARTNER = "320382000"  # 邳州, a partner hall with demo stock
ISSUING = "371302000"  # 兰山, an issuing hall
START = time.monotonic()
DEADLINE = START + float(os.environ.get("CHAOS_DEADLINE_S", "1200"))


def log(msg):
    print(f"[{time.monotonic() - START:7.1f} s] {msg}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, pred, timeout=60.0, step=0.2):
    end = min(time.monotonic() + timeout, DEADLINE)
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    log(f"gave up waiting for {what}")
    return False


def stock_prefix(hall):
    return "".join(chr(ord("A") + int(c)) for c in hall)[:16]


class Tally:
    """What the checks found; server errors are 500s seen by the suite plus the servers' logs."""

    def __init__(self):
        self.faults = {}
        self.server_errors = 0
        self.expected_503 = 0
        self.notes = []

    def fault(self, kind, n=1):
        self.faults[kind] = self.faults.get(kind, 0) + n


TALLY = Tally()


class Http:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, token=None, body=None, timeout=30, expect_unavailable=False):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        if token:
            req.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                raw = res.read()
                return res.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = {"raw": raw.decode(errors="replace")}
            if e.code >= 500 and e.code != 503:
                TALLY.server_errors += 1
                log(f"SERVER ERROR {e.code} on {method} {path}: {payload}")
            return e.code, payload
        except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout) as e:
            return None, str(e)


class PgCluster:
    """A private PostgreSQL cluster in the work folder, on its own port: restarting it touches
    nobody else's database."""

    def __init__(self, work):
        self.dir = os.path.join(work, "pg")
        self.sock = os.path.join(work, "pgsock")
        self.port = free_port()
        bindir = "/usr/lib/postgresql"
        versions = sorted(os.listdir(bindir), key=lambda v: int(v) if v.isdigit() else 0)
        self.bin = os.path.join(bindir, versions[-1], "bin")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/crosscert"
        self.log = os.path.join(work, "pg.log")

    def as_postgres(self, args):
        cmd = ["runuser", "-u", "postgres", "--"] + args if os.geteuid() == 0 else args
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self):
        os.makedirs(self.sock)
        for d in (self.dir, self.sock):
            os.makedirs(d, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(d, "postgres", "postgres")
        if os.geteuid() == 0:
            shutil.chown(os.path.dirname(self.dir), "postgres", "postgres")
        self.as_postgres([f"{self.bin}/initdb", "-D", self.dir, "-A", "trust", "-U", "postgres"])
        self.ctl("start")
        subprocess.run(
            [f"{self.bin}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "crosscert"],
            check=True,
        )

    def ctl(self, action, mode="fast"):
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=on"
        args = [f"{self.bin}/pg_ctl", "-D", self.dir, "-l", self.log, "-w", "-m", mode, "-o", opts, action]
        self.as_postgres(args)

    def stop(self):
        try:
            self.ctl("stop", "immediate")
        except subprocess.CalledProcessError:
            pass


class Server:
    def __init__(self, binary, url, work):
        self.binary, self.url, self.work = binary, url, work
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.starts = 0
        self.http = Http(self.base)

    def start(self, demo=False):
        self.starts += 1
        logf = open(os.path.join(self.work, f"server-{self.starts}.log"), "w")
        args = [self.binary, "serve", "--database-url", self.url, "--bind", f"127.0.0.1:{self.port}"]
        if demo:
            args.append("--demo")
        env = dict(os.environ, CROSSCERT_DEMO_PASSWORD=PASSWORD, RUST_LOG="warn")
        self.proc = subprocess.Popen(args, stdout=logf, stderr=logf, env=env, start_new_session=True)
        ok = wait_for("the server to answer /healthz", lambda: self.http.call("GET", "/healthz", timeout=2)[0] == 200, 90)
        if not ok:
            raise SystemExit(f"the server did not start; see {logf.name}")

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def errors_in_logs(self):
        n = 0
        for i in range(1, self.starts + 1):
            path = os.path.join(self.work, f"server-{i}.log")
            with open(path, errors="replace") as f:
                for line in f:
                    if "internal error" in line or "panicked" in line:
                        n += 1
                        log(f"server log {i}: {line.strip()[:300]}")
        return n


class Proxy:
    """A TCP proxy between agents and server. `stall()` stops forwarding in both directions
    without closing anything (a half-open network); `drop()` then closes every connection."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = free_port()
        self.stalled = threading.Event()
        self.conns = []
        self.lock = threading.Lock()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(64)
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns.append((client, upstream))
            threading.Thread(target=self.pump, args=(client, upstream), daemon=True).start()

    def pump(self, a, b):
        peers = {a: b, b: a}
        try:
            while True:
                if self.stalled.is_set():
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    peers[s].sendall(data)
        except (OSError, ValueError):
            pass  # closed here or by drop()
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def stall(self):
        self.stalled.set()

    def drop(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for a, b in conns:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
        self.stalled.clear()


class Agent:
    def __init__(self, binary, work, name, token_file, first, count):
        self.binary, self.name = binary, name
        self.dir = os.path.join(work, name)
        self.state = os.path.join(self.dir, "state")
        self.spool = os.path.join(self.dir, "spool")
        self.print_log = os.path.join(self.dir, "printed.log")
        self.start_log = os.path.join(self.dir, "print-started.log")
        self.token_file = token_file
        self.proc = None
        self.runs = 0
        os.makedirs(self.dir, exist_ok=True)
        subprocess.run(
            [binary, "agent", "--state-dir", self.state, "stock", "load", "--from", first, "--count", str(count)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self, server_url, halt_at=None, print_seconds=0.1):
        self.runs += 1
        self.log = os.path.join(self.dir, f"agent-{self.runs}.log")
        # The print command: "started" first, then (after the printer's time) "printed".
        cmd = (
            f"echo {{file}} >> {self.start_log}; sleep {print_seconds}; echo {{file}} >> {self.print_log}"
        )
        args = [
            self.binary, "agent", "--server", server_url, "--token-file", self.token_file,
            "--state-dir", self.state, "--spool", self.spool, "--print-command", cmd, "--wait-s", "2",
        ]
        env = dict(os.environ, RUST_LOG="info")
        env.pop("CROSSCERT_AGENT_TEST_HALT_AT", None)
        if halt_at:
            env["CROSSCERT_AGENT_TEST_HALT_AT"] = halt_at
        self.proc = subprocess.Popen(
            args, stdout=open(self.log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def log_has(self, text):
        try:
            with open(self.log, errors="replace") as f:
                return text in f.read()
        except FileNotFoundError:
            return False

    def kill9(self):
        """SIGKILL the agent and its print command: a power cut at the hall's PC."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.kill9()

    def lines(self, path):
        try:
            with open(path) as f:
                return [os.path.basename(l.strip()) for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def printed_jobs(self):
        """job id -> how many times the print command finished for it."""
        out = {}
        for name in self.lines(self.print_log):
            job = name.removeprefix("job-").removesuffix(".pdf")
            out[job] = out.get(job, 0) + 1
        return out

    def journal(self):
        db = sqlite3.connect(f"file:{os.path.join(self.state, 'journal.db')}?mode=ro", uri=True, timeout=10)
        try:
            jobs = {r[0]: {"step": r[1], "outcome": r[2]} for r in db.execute("SELECT id, state, outcome FROM jobs")}
            sheets = db.execute("SELECT serial, state, job_id FROM sheets WHERE state IN ('used','in_doubt')").fetchall()
        finally:
            db.close()
        return jobs, sheets


class World:
    def __init__(self, args):
        self.args = args
        self.backend = args.backend
        self.work = tempfile.mkdtemp(prefix=f"crosscert-chaos-{self.backend}-")
        self.mounted = False
        self.pg = None
        self.jobs = []  # every job id queued
        self.licences = {}
        if self.backend == "sqlite":
            dbdir = os.path.join(self.work, "db")
            os.makedirs(dbdir)
            size = os.environ.get("CHAOS_TMPFS_SIZE", "96m")
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", dbdir], capture_output=True)
            self.mounted = r.returncode == 0
            if not self.mounted:
                TALLY.notes.append(f"disk-full fault skipped: cannot mount a tmpfs here ({r.stderr.decode().strip()})")
            self.dbdir = dbdir
            self.url = f"sqlite://{dbdir}/crosscert.db"
        else:
            self.pg = PgCluster(self.work)
            self.pg.start()
            self.url = self.pg.url
        self.server = Server(args.bin, self.url, self.work)
        self.server.start(demo=True)
        self.http = self.server.http
        b = args.bin
        env = dict(os.environ, RUST_LOG="warn")
        for user, role, hall in (("chaos-issuer", "issuer", ISSUING), ("chaos-operator", "hall_operator", PARTNER)):
            subprocess.run(
                [b, "admin", "create-user", "--database-url", self.url, "--username", user, "--role", role,
                 "--hall", hall, "--password-stdin"],
                input=PASSWORD + "\n", text=True, check=True, env=env, capture_output=True,
            )
        token = subprocess.run(
            [b, "admin", "agent-token", "--database-url", self.url, "--hall", PARTNER],
            check=True, capture_output=True, text=True, env=env,
        ).stdout.strip()
        self.token_file = os.path.join(self.work, "agent-token")
        with open(self.token_file, "w") as f:
            f.write(token + "\n")
        self.issuer = self.login("chaos-issuer")
        self.operator = self.login("chaos-operator")
        status, types = self.http.call("GET", "/api/v1/cert-types", self.issuer)
        code = next(t["code"] for t in types if t["name"].startswith("营业执照"))
        status, detail = self.http.call("GET", f"/api/v1/cert-types/{code}", self.issuer)
        self.body = dict(detail["example"], type_code=code)
        prefix = stock_prefix(PARTNER)
        # Two agents of the hall, each with its own half of the demo stock.
        self.agents = [
            Agent(b, self.work, f"agent{i}", self.token_file, f"{prefix}{1 + 250 * i:06d}", 250) for i in range(2)
        ]
        self.proxy = Proxy(self.server.port)

    def login(self, user):
        for _ in range(50):
            status, body = self.http.call("POST", "/api/v1/sessions", body={"username": user, "password": PASSWORD})
            if status == 200:
                return body["token"]
            time.sleep(0.2)
        raise SystemExit(f"cannot log in as {user}")

    def relogin(self):
        self.issuer = self.login("chaos-issuer")
        self.operator = self.login("chaos-operator")

    def call_retrying(self, method, path, token_attr, body=None, ok=(200, 201)):
        """A staff call, retried while the server or database is down (a fault in progress)."""
        for _ in range(200):
            status, answer = self.http.call(method, path, getattr(self, token_attr), body)
            if status in ok:
                return answer
            if status == 401:
                self.relogin()
            time.sleep(0.3)
            if time.monotonic() > DEADLINE:
                break
        raise SystemExit(f"{method} {path} kept failing: {status} {answer}")

    def queue_jobs(self, n):
        ids = []
        for _ in range(n):
            licence = self.call_retrying("POST", "/api/v1/licences", "issuer", self.body)
            status, snapshot = self.http.call("GET", f"/api/v1/licences/{licence['id']}", self.issuer)
            self.licences[licence["id"]] = snapshot
            job = self.call_retrying(
                "POST", "/api/v1/print-jobs", "issuer",
                {"licence_id": licence["id"], "hall": PARTNER, "copies": ["original"]},
            )
            ids.append(job["id"])
        self.jobs.extend(ids)
        return ids

    def job(self, job_id):
        status, job = self.http.call("GET", f"/api/v1/print-jobs/{job_id}", self.issuer, timeout=10)
        if status == 401:
            self.relogin()
        return job if status == 200 else None

    def settled(self, ids):
        def check():
            for i in ids:
                job = self.job(i)
                if job is None or job["state"] not in ("printed", "collected", "needs_reconciliation"):
                    return False
            return True
        return check

    # ---- the faults ----------------------------------------------------------------------

    def agent_kills(self, rounds):
        """SIGKILL one agent right after each journal step, then let a plain restart recover."""
        a = self.agents[0]
        for r in range(rounds):
            for step in ("claimed", "downloaded", "printing", "printed", "reported"):
                if time.monotonic() > DEADLINE:
                    return
                halt = None if step == "printing" else step
                a.start(self.server.base, halt_at=halt, print_seconds=3 if step == "printing" else 0.1)
                [job] = self.queue_jobs(1)
                if step == "printing":
                    hit = wait_for("the print command to start", lambda: f"job-{job}.pdf" in a.lines(a.start_log), 60, 0.05)
                else:
                    hit = wait_for(f"the agent to halt after {step}", lambda: a.log_has("test hook: halting"), 60, 0.05)
                a.kill9()
                if hit:
                    TALLY.fault(f"agent SIGKILL at {step}")
                if step == "reported" and hit:
                    # Killed again while resending the journaled report.
                    a.start(self.server.base, halt_at="reported")
                    if wait_for("the agent to halt while resending", lambda: a.log_has("test hook: halting"), 60, 0.05):
                        TALLY.fault("agent SIGKILL while resending a report")
                    a.kill9()
                a.start(self.server.base)
                wait_for(f"job {job} to settle after the {step} kill", self.settled([job]), 90)
                wait_for("the journal to confirm every report", lambda: self.journal_owes(a) == 0, 60)
                a.stop()
            log(f"agent kills: round {r + 1}/{rounds} done")

    def journal_owes(self, agent):
        try:
            jobs, _ = agent.journal()
        except sqlite3.Error:
            return -1
        return sum(1 for j in jobs.values() if j["step"] in ("printed", "failed", "reported"))

    def server_kills(self, rounds, per_round):
        """SIGKILL the server while both agents claim, print and report; start it again."""
        for a in self.agents:
            a.start(self.server.base)
        for r in range(rounds):
            if time.monotonic() > DEADLINE:
                break
            ids = self.queue_jobs(per_round)
            time.sleep(random.uniform(0.2, 1.5))
            self.server.kill9()
            TALLY.fault("server SIGKILL")
            time.sleep(random.uniform(0.5, 2.0))
            self.server.start()
            self.relogin()
            wait_for("the jobs to settle after a server kill", self.settled(ids), 120)
        log(f"server kills: {rounds} rounds done")
        for a in self.agents:
            a.stop()

    def pg_restarts(self, rounds, per_round):
        """Restart PostgreSQL (immediate: a crash) during a claim storm."""
        for a in self.agents:
            a.start(self.server.base)
        for r in range(rounds):
            if time.monotonic() > DEADLINE:
                break
            ids = self.queue_jobs(per_round)
            time.sleep(random.uniform(0.1, 1.0))
            self.pg.ctl("restart", mode=random.choice(["immediate", "fast"]))
            TALLY.fault("PostgreSQL restart")
            wait_for("the jobs to settle after a PostgreSQL restart", self.settled(ids), 120)
        log(f"PostgreSQL restarts: {rounds} rounds done")
        for a in self.agents:
            a.stop()

    def network_stalls(self, rounds, per_round):
        """Agents talk through the proxy; it stalls (half-open) and later drops everything."""
        via = f"http://127.0.0.1:{self.proxy.port}"
        for a in self.agents:
            a.start(via)
        for r in range(rounds):
            if time.monotonic() > DEADLINE:
                break
            ids = self.queue_jobs(per_round)
            time.sleep(random.uniform(0.1, 1.0))
            self.proxy.stall()
            time.sleep(random.uniform(2.0, 5.0))
            self.proxy.drop()
            TALLY.fault("network stall then drop")
            wait_for("the jobs to settle after a network stall", self.settled(ids), 150)
        log(f"network stalls: {rounds} rounds done")
        for a in self.agents:
            a.stop()

    def disk_full(self, rounds):
        """Fill the SQLite database's tmpfs: writes are refused with 503 storage_full (or still
        fit in space SQLite already holds), never a 500; reads go on; nothing committed is
        lost; writing works again once space returns."""
        if not self.mounted:
            return
        filler = os.path.join(self.dbdir, "filler")
        for r in range(rounds):
            if time.monotonic() > DEADLINE:
                break
            before = self.licence_rows()
            # Fold the WAL into the database and truncate it, so the next write has to grow a
            # file on a disk with no room left.
            db = sqlite3.connect(os.path.join(self.dbdir, "crosscert.db"), timeout=30)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            db.close()
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
            issued, refused = 0, 0
            # Until the disk refuses (the WAL may still have room for a few writes).
            for _ in range(60):
                status, answer = self.http.call("POST", "/api/v1/licences", self.issuer, self.body)
                if status == 201:
                    issued += 1
                    self.licences[answer["id"]] = self.http.call("GET", f"/api/v1/licences/{answer['id']}", self.issuer)[1]
                    continue
                if status == 503 and isinstance(answer, dict) and answer.get("error") == "storage_full":
                    refused += 1
                    TALLY.expected_503 += 1
                else:
                    TALLY.notes.append(f"disk full: a write got {status} {answer}")
                break
            readable = self.http.call("GET", "/api/v1/cert-types", self.issuer)[0] == 200
            while_full = self.licence_rows()
            os.remove(filler)
            TALLY.fault("SQLite disk full")
            if refused == 0:
                TALLY.notes.append("disk full: no write was refused with 503 storage_full")
            if not readable:
                TALLY.notes.append("disk full: reads failed while the disk was full")
            if while_full != before + issued:
                TALLY.notes.append(f"disk full: {before} licences + {issued} issued, but {while_full} stored")
            self.queue_jobs(1)
            if self.licence_rows() != while_full + 1:
                TALLY.notes.append("disk full: writing did not recover once space returned")
        log(f"disk full: {rounds} rounds done")

    def licence_rows(self):
        db = sqlite3.connect(f"file:{self.dbdir}/crosscert.db?mode=ro", uri=True, timeout=10)
        try:
            return db.execute("SELECT COUNT(*) FROM licences").fetchone()[0]
        finally:
            db.close()

    # ---- the checks ----------------------------------------------------------------------

    def final_checks(self):
        # Healthy agents get the last word: anything still in hand is finished now.
        for a in self.agents:
            a.start(self.server.base)
        wait_for("every job to settle", self.settled(self.jobs), 180, 1.0)
        for a in self.agents:
            wait_for(f"{a.name}'s reports to be confirmed", lambda: self.journal_owes(a) == 0, 60)
        for a in self.agents:
            a.stop()
        printed = {}
        for a in self.agents:
            for job, n in a.printed_jobs().items():
                printed[job] = printed.get(job, 0) + n
        journal_printed = set()
        owed = 0
        serial_jobs = {}
        for a in self.agents:
            jobs, sheets = a.journal()
            for jid, j in jobs.items():
                if j["outcome"] == "printed":
                    journal_printed.add(jid)
                if j["step"] in ("printed", "failed", "reported"):
                    owed += 1
                    log(f"{a.name}: job {jid} still owes its report ({j['step']})")
            for serial, state, jid in sheets:
                serial_jobs.setdefault(serial, set()).add(jid)
        twice = [j for j, n in printed.items() if n > 1]
        reused = [s for s, js in serial_jobs.items() if len(js) > 1]
        lost, stuck = [], []
        waiting = self.http.call(
            "GET", f"/api/v1/print-jobs?hall={PARTNER}&state=needs_reconciliation&limit=500", self.operator
        )[1]
        shown = {j["id"] for j in waiting} if isinstance(waiting, list) else set()
        server_used = {}
        for jid in self.jobs:
            job = self.job(jid)
            state = job["state"] if job else "unreadable"
            for s in (job or {}).get("sheets", []):
                if s["state"] == "printed":
                    server_used.setdefault(s["serial"], set()).add(jid)
            if (jid in printed or jid in journal_printed) and state not in ("printed", "collected", "needs_reconciliation"):
                lost.append(jid)
            elif jid in journal_printed and state == "needs_reconciliation":
                # The agent knew it printed, so its report said so: the server must have it.
                lost.append(jid)
            elif state == "printed" and len([s for s in job["sheets"] if s["state"] == "printed"]) != 1:
                lost.append(jid)
            if state == "needs_reconciliation" and jid not in shown:
                stuck.append(jid)
            elif state not in ("printed", "collected", "needs_reconciliation"):
                stuck.append(jid)
        reused += [s for s, js in server_used.items() if len(js) > 1]
        for jid in twice:
            log(f"PRINTED TWICE: job {jid} ({printed[jid]} times)")
        for s in reused:
            log(f"SHEET USED TWICE: {s}")
        for jid in lost:
            log(f"REPORT LOST: job {jid}")
        for jid in stuck:
            log(f"STUCK: job {jid}")
        changed = 0
        for lid, before in self.licences.items():
            status, now = self.http.call("GET", f"/api/v1/licences/{lid}", self.issuer)
            if status != 200 or now != before:
                changed += 1
                log(f"LICENCE CHANGED: {lid}")
        TALLY.server_errors += self.server.errors_in_logs()
        reconciling = sum(1 for jid in self.jobs if (self.job(jid) or {}).get("state") == "needs_reconciliation")
        return {
            "printed_twice": len(twice) + len(reused),
            "reports_lost": len(lost) + owed,
            "stuck": len(stuck),
            "licences_changed": changed,
            "reconciling": reconciling,
            "printed": sum(1 for jid in self.jobs if jid in printed),
        }

    def cleanup(self):
        for a in self.agents:
            a.kill9()
        self.server.kill9()
        if self.pg:
            self.pg.stop()
        if self.mounted:
            subprocess.run(["umount", self.dbdir], capture_output=True)
        if os.environ.get("CHAOS_KEEP") != "1":
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            log(f"kept {self.work}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("backend", choices=["sqlite", "postgres"])
    p.add_argument("--bin", required=True)
    args = p.parse_args()
    short = os.environ.get("CHAOS_SHORT") == "1"
    random.seed(os.environ.get("CHAOS_SEED", "19"))
    # (rounds of agent kills over 5 steps, server kills, PostgreSQL restarts, stalls, disk full)
    plan = (1, 3, 2, 2, 2) if short else (4, 10, 6, 6, 5)
    log(f"chaos on {args.backend} ({'short' if short else 'full'} run)")
    w = World(args)
    try:
        w.agent_kills(plan[0])
        w.server_kills(plan[1], 3)
        if args.backend == "postgres":
            w.pg_restarts(plan[2], 4)
        w.network_stalls(plan[3], 3)
        if args.backend == "sqlite":
            w.disk_full(plan[4])
        result = w.final_checks()
    finally:
        w.cleanup()
    took = time.monotonic() - START
    faults = sum(TALLY.faults.values())
    print()
    for kind, n in sorted(TALLY.faults.items()):
        print(f"  {kind}: {n}")
    for note in TALLY.notes:
        print(f"  note: {note}")
    print(
        f"  jobs {len(w.jobs)} (printed {result['printed']}, left for the hall operator to reconcile "
        f"{result['reconciling']}), licences checked {len(w.licences)}, changed {result['licences_changed']}, "
        f"503 storage_full answers {TALLY.expected_503}, took {took:.0f} s"
    )
    print(
        f"faults {faults}, printed twice {result['printed_twice']}, reports lost {result['reports_lost']}, "
        f"jobs stuck {result['stuck']}, server errors {TALLY.server_errors}"
    )
    bad = (
        result["printed_twice"] or result["reports_lost"] or result["stuck"] or TALLY.server_errors
        or result["licences_changed"] or any(n.startswith("disk full:") for n in TALLY.notes)
    )
    if time.monotonic() > DEADLINE:
        print("the run hit its deadline before every fault was injected", file=sys.stderr)
        bad = True
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
