#!/usr/bin/env python3
"""Load benchmark: the gateway side by side with bare Pingora and the direct path, in one run.

Scenarios (all against the same `stav-mock-upstream`, on this machine):
  direct       wrk -> mock
  bare         wrk -> bare Pingora pass-through (stav-bench-bare-pingora) -> mock   (the floor)
  passthrough  wrk -> gateway, OpenAI chat completions, explicit model -> mock
  translate    wrk -> gateway, Anthropic /v1/messages translated to Chat Completions -> mock
  auto         wrk -> gateway, model "auto" (classification + policy) -> mock
  otlp         (with --otlp) wrk -> gateway with `[telemetry] otlp_endpoint` at a local OTLP sink,
               every request traced (sample_ratio 1.0), otherwise as passthrough -> mock
  ledger       the passthrough scenario on a second gateway with the request ledger on as
               configured by default (`[ledger] dir`: the journal): the ledger's cost per request
  ledger_ship  the same on a third gateway that also ships to a PostgreSQL started here (when its
               binaries are installed): what shipping adds, and whether it keeps up (lag, drain)

For each: requests/s at 32 connections, latency p50/p99 at 1 and 32 connections (and what the
proxy adds over direct), CPU time per request of the proxy process (from /proc), time to first
token on a paced stream, and, for the gateway and bare Pingora, resident memory at rest and with
1,000 / 10,000 idle open streams. Then, because CPU time on a shared machine moves with its
neighbours, each proxy runs once more under callgrind: user-space instructions per request, a count
that does not. Prints one table and writes it as JSON.

Usage: python3 benches/load.py [--duration 4] [--rounds 3] [--out benches/results.json] [--idle 1000,10000] [--otlp]

Each throughput figure is the median over the rounds; each ratio to bare Pingora is computed within a
round (the same minutes of machine load) and the median of those is reported.
Expects the binaries in target/release (or --bin-dir); benches/load.sh builds them and installs wrk
and valgrind.
"""

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REL = ROOT / "target" / "release"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from stavkeys import make_key, record  # noqa: E402
import pg  # noqa: E402

KEY = make_key("benchkey0001", "LoadBenchmarkKeyNotForProduction")
# The gateway as shipped: its default logging (the access log on), and a provider credential, so
# every answer passes the credential scrubber as in production.
GATEWAY_ENV = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
GATEWAY_ENV["STAV_BENCH_UPSTREAM_KEY"] = "sk-bench-upstream-credential-0123456789"
PACED_KEY = make_key("benchpaced01", "LoadBenchmarkKeyNotForProduction")
TICK = os.sysconf("SC_CLK_TCK")
PROMPT = "In one sentence, what is EU sovereignty for AI?"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# A feature's own threads, by the name the kernel keeps (15 bytes): the ledger's writer and
# shipper run as Pingora background services ("BG stav ledger", "BG stav ledger ship"), tracing
# as the exporter thread and its HTTP client's runtime.
FEATURE_THREADS = {"ledger": ("BG stav ledger",), "ledger_ship": ("BG stav ledger",),
                   "otlp": ("stav-otel-expor", "reqwest-interna")}


def thread_cpu_seconds(pid, prefixes):
    """CPU seconds of the threads of `pid` whose name starts with one of `prefixes`, from
    `schedstat` (nanoseconds on a CPU; `stat` counts in 10 ms ticks, too coarse for a thread
    that works a few microseconds per request in a short run)."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().rstrip("\n")
            if name.startswith(prefixes):
                total += int((task / "schedstat").read_text().split()[0]) / 1e9
        except OSError:
            continue  # the thread ended between the listing and the read
    return total


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start(args, **kw):
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def wrk(url, body, headers, conns, duration):
    """Returns (requests/s, p50 ms, p99 ms, requests)."""
    lua = Path(tempfile.mkstemp(suffix=".lua")[1])
    hdr = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    lua.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n{hdr}')
    out = subprocess.run(["wrk", "-t", "1" if conns == 1 else "2", "-c", str(conns), "-d", f"{duration}s",
                          "--latency", "-s", str(lua), url], capture_output=True, text=True, check=True).stdout
    lua.unlink()

    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{url}: {non2xx.group(1)} failed responses\n{out}")
    return rps, ms("50"), ms("99"), total


def cpu_per_request(url, body, headers, pid, duration):
    """CPU microseconds of process `pid` per request of a 32-connection wrk run."""
    c0 = cpu_seconds(pid)
    r = wrk(url, body, headers, 32, duration)
    return (cpu_seconds(pid) - c0) / r[3] * 1e6


def paired(base, other, pairs, duration):
    """A feature's CPU cost as the median ratio of `other`'s CPU per request to `base`'s, from
    back-to-back runs in ABBA order. The rounds above run every scenario in turn, and this machine
    drifts by ±15% between them, far more than a cost of a few per cent; two runs seconds apart
    drift much less, and alternating the order cancels a trend within a pair.
    `base`, `other`: (url, body, headers, pid)."""
    ratios = []
    for i in range(pairs):
        first, second = (base, other) if i % 2 == 0 else (other, base)
        a = cpu_per_request(*first, duration)
        b = cpu_per_request(*second, duration)
        ratios.append(round((b / a) if first is base else (a / b), 4))
    return statistics.median(ratios), ratios


class OtlpSink:
    """A local OTLP/HTTP endpoint that takes every export (an empty ExportTraceServiceResponse is
    an empty protobuf body) and counts requests and bytes: the collector's side costs nothing
    measurable, so the figure is the gateway's own."""

    def __init__(self):
        self.posts, self.bytes = 0, 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("content-length", "0"))
                self.rfile.read(n)
                sink.posts, sink.bytes = sink.posts + 1, sink.bytes + n
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def admin_metric(port, name, label=""):
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(rf"^{name}{re.escape(label)} ([\d.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def sequential(port, path, body, headers, n):
    """n requests one after another on one keep-alive connection."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = json.dumps(body)
    for _ in range(n):
        c.request("POST", path, data, {"Content-Type": "application/json", **headers})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"{path}: HTTP {r.status}")
    c.close()


def instructions_per_request(args, port, scenarios, n, out_prefix, dumps=None):
    """User-space instructions per request of one proxy process, counted by callgrind: unlike CPU
    time, the count does not move with the machine's load (the kernel's share is not in it).
    `dumps`, when given, receives each scenario's callgrind dump file by name."""
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_prefix}",
                             *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=GATEWAY_ENV)
    try:
        wait_port(port, timeout=120)
        result = {}
        for dump, (name, path, body, headers) in enumerate(scenarios, start=1):
            sequential(port, path, body, headers, 100)  # warm-up: pools, lazy statics
            subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
            sequential(port, path, body, headers, n)
            subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
            path = Path(f"{out_prefix}.{dump}")
            if dumps is not None:
                dumps[name] = path
            result[name] = int(re.search(r"^totals:\s+(\d+)", path.read_text(), re.M).group(1)) / n
        return result
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


SCRUB_ENTRY_POINTS = ("StreamScrubber::process", "Secrets::found_in", "Secrets::stream", "Secrets::scrub")


def scrubber_instructions(dump, n):
    """Instructions per request spent inside the credential scrubber's entry points (inclusive
    costs from the callgrind dump of `n` requests): the scrubber's own cost, apart from anything
    else a provider credential changes."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)],
                          capture_output=True, text=True, check=True).stdout
    # Call sites into the scrubber, as annotated in their callers' sources: the cost of each call
    # with everything under it (inlined parts included, which a function's own entry may split
    # across source files).
    total = 0
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+=> \S*scrub\.rs:stav_gateway::scrub::(\S+) \(", line)
        if m and m.group(2) in SCRUB_ENTRY_POINTS:
            total += int(m.group(1).replace(",", ""))
    return total / n


async def ttft_once(port, path, body, headers):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    t0 = time.perf_counter()
    w.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n{head}\r\n".encode() + data)
    await w.drain()
    buf = b""
    while b"data:" not in buf.split(b"\r\n\r\n", 1)[-1] or b"\r\n\r\n" not in buf:
        chunk = await r.read(65536)
        if not chunk:
            break
        buf += chunk
    t = time.perf_counter() - t0
    w.close()
    return t


def ttft(port, path, body, headers, n=15):
    return statistics.median(asyncio.run(_seq(port, path, body, headers, n))) * 1000


async def _seq(port, path, body, headers, n):
    return [await ttft_once(port, path, body, headers) for _ in range(n)]


async def hold_streams(port, path, body, headers, n, pid):
    """Open n streams that stay open (a slow-paced upstream), then read the proxy's RSS."""
    data = json.dumps(body).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    req = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n{head}\r\n".encode() + data
    conns = []
    sem = asyncio.Semaphore(200)

    async def one():
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(req)
            await w.drain()
            await r.readuntil(b"\r\n\r\n")
            conns.append((r, w))

    await asyncio.gather(*(one() for _ in range(n)))
    await asyncio.sleep(1.0)
    rss = rss_kib(pid)
    for _, w in conns:
        w.close()
    return rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--callgrind", type=int, default=2000,
                    help="requests per scenario counted under callgrind (0: skip)")
    ap.add_argument("--out", default=str(ROOT / "benches" / "results.json"))
    ap.add_argument("--idle", default="1000,10000")
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--bin-dir", default=str(REL), help="where the binaries are (the tests use debug ones)")
    ap.add_argument("--otlp", action="store_true",
                    help="also run a gateway that traces every request to a local OTLP sink (row `otlp`)")
    ap.add_argument("--pairs", type=int, default=8,
                    help="ABBA pairs for the per-feature CPU costs (ledger, tracing) against the same pass-through")
    ap.add_argument("--no-log-off", action="store_true",
                    help="skip the row of a gateway with its access log off (binaries older than the option)")
    a = ap.parse_args()
    bins = Path(a.bin_dir)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    tmp = Path(tempfile.mkdtemp())
    procs = []
    try:
        mock_port, slow_port, idle_port, bare_port, gw_port, admin_port = (free_port() for _ in range(6))
        procs.append(start([bins / "stav-mock-upstream", "--listen", f"127.0.0.1:{mock_port}", "--chunks", str(a.chunks)]))
        # A paced upstream for time to first token: 20 ms between chunks.
        procs.append(start([bins / "stav-mock-upstream", "--listen", f"127.0.0.1:{slow_port}", "--chunks", "50",
                            "--token-delay-ms", "20"]))
        # Streams that stay open while idle ones are counted: a chunk every 2 s for two minutes.
        procs.append(start([bins / "stav-mock-upstream", "--listen", f"127.0.0.1:{idle_port}", "--chunks", "60",
                            "--token-delay-ms", "2000"]))
        bare = start([bins / "stav-bench-bare-pingora", f"127.0.0.1:{bare_port}", f"127.0.0.1:{mock_port}", "2"])
        procs.append(bare)
        (tmp / "keys.toml").write_text(record("benchkey0001", "bench", KEY)
                                       + record("benchpaced01", "bench-paced", PACED_KEY))
        config = lambda listen, admin, extra_server="", ledger="": f"""
[server]
listen = "127.0.0.1:{listen}"
admin_listen = "127.0.0.1:{admin}"
threads = 2
grace_period_seconds = 0
graceful_shutdown_timeout_seconds = 1
{extra_server}
[store]
kind = "file"
path = "keys.toml"
[[providers]]
name = "mock"
api = "openai"
base_url = "http://127.0.0.1:{mock_port}/v1"
api_key_env = "STAV_BENCH_UPSTREAM_KEY"
[[providers]]
name = "slow"
api = "openai"
base_url = "http://127.0.0.1:{slow_port}/v1"
[[providers]]
name = "idle"
api = "openai"
base_url = "http://127.0.0.1:{idle_port}/v1"
[[models]]
name = "m"
provider = "mock"
tier = "sovereign"
[[models]]
name = "m-slow"
provider = "slow"
tier = "sovereign"
[[models]]
name = "m-idle"
provider = "idle"
tier = "sovereign"
[[teams]]
name = "bench"
router = {{ default = "m", rules = [{{ when = {{ code = true }}, model = "m" }}] }}
[[teams]]
name = "bench-paced"
router = {{ default = "m-slow" }}
{ledger}
"""
        (tmp / "stav.toml").write_text(config(gw_port, admin_port))
        gw = start([bins / "stav-gateway", "--config", str(tmp / "stav.toml")], env=GATEWAY_ENV)
        procs.append(gw)
        traced = lambda listen, admin: config(listen, admin) + f"""
[telemetry]
otlp_endpoint = "http://127.0.0.1:{sink.port}"
sample_ratio = 1.0
"""
        if a.otlp:
            sink = OtlpSink()
            otlp_port, otlp_admin = free_port(), free_port()
            (tmp / "otlp.toml").write_text(traced(otlp_port, otlp_admin))
            gw_otlp = start([bins / "stav-gateway", "--config", str(tmp / "otlp.toml")],
                            env=GATEWAY_ENV)
            procs.append(gw_otlp)
            wait_port(otlp_port)
        # The same gateway with the ledger on as configured by default (the journal: `[ledger]`
        # with a directory, the row `ledger`, the target's figure), and with it shipping to a
        # PostgreSQL of its own when one is installed (the row `ledger_ship`: what shipping adds,
        # and whether it keeps up).
        postgres = None
        if pg.available():
            postgres = pg.Postgres(free_port())
            postgres.init()
            postgres.start()
            postgres.wait_up()
        ledger_port, ledger_admin = free_port(), free_port()
        (tmp / "ledger.toml").write_text(config(ledger_port, ledger_admin, '[ledger]\ndir = "ledger"\n'))
        gwl = start([bins / "stav-gateway", "--config", str(tmp / "ledger.toml")],
                    env=GATEWAY_ENV)
        procs.append(gwl)
        ship_port, ship_admin = free_port(), free_port()
        if postgres:
            (tmp / "ship.toml").write_text(config(ship_port, ship_admin,
                                                  f'[ledger]\ndir = "ledger-ship"\npostgres_url = "{postgres.url()}"\n'))
            gws = start([bins / "stav-gateway", "--config", str(tmp / "ship.toml")], env=GATEWAY_ENV)
            procs.append(gws)
        lag_max = 0.0

        def lag(admin=None):
            """(lag, shipped, dropped) of the shipping gateway, or of the one at `admin`."""
            import urllib.request
            admin = admin or ship_admin
            text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics").read().decode()
            get = lambda name: sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + " "))
            return get("stav_ledger_lag_records"), get("stav_ledger_shipped_total"), get("stav_ledger_dropped_total")

        ports = [mock_port, slow_port, idle_port, bare_port, gw_port, ledger_port] + ([ship_port] if postgres else [])
        if not a.no_log_off:
            off_port, off_admin = free_port(), free_port()
            (tmp / "off.toml").write_text(config(off_port, off_admin, 'access_log = "off"'))
            gw_off = start([bins / "stav-gateway", "--config", str(tmp / "off.toml")], env=GATEWAY_ENV)
            procs.append(gw_off)
            ports.append(off_port)
        if a.otlp:
            ports.append(otlp_port)
        for p in ports:
            wait_port(p)
        time.sleep(0.5)
        rest = {"gateway": rss_kib(gw.pid), "bare": rss_kib(bare.pid)}

        chat = {"model": "m", "messages": [{"role": "user", "content": PROMPT}]}
        auth = {"Authorization": f"Bearer {KEY}"}
        scenarios = [
            ("direct", mock_port, "/v1/chat/completions", chat, {}, None),
            ("bare", bare_port, "/v1/chat/completions", chat, {}, bare.pid),
            ("passthrough", gw_port, "/v1/chat/completions", chat, auth, gw.pid),
            ("translate", gw_port, "/v1/messages", {**chat, "max_tokens": 64},
             {**auth, "anthropic-version": "2023-06-01"}, gw.pid),
            ("auto", gw_port, "/v1/chat/completions", {**chat, "model": "auto"}, auth, gw.pid),
            ("ledger", ledger_port, "/v1/chat/completions", chat, auth, gwl.pid),
        ]
        if postgres:
            scenarios.append(("ledger_ship", ship_port, "/v1/chat/completions", chat, auth, gws.pid))
        if a.otlp:
            scenarios.append(("otlp", otlp_port, "/v1/chat/completions", chat, auth, gw_otlp.pid))
        if not a.no_log_off:
            scenarios.insert(3, ("passthrough_log_off", off_port, "/v1/chat/completions", chat, auth, gw_off.pid))
        # Rounds: every scenario once per round, back to back, so that each round's ratios to
        # bare Pingora are measured under the same machine load; the table shows the medians.
        samples = {name: [] for name, *_ in scenarios}
        own_us = {name: [] for name in FEATURE_THREADS}
        for name, port, path, body, headers, pid in scenarios:
            wrk(f"http://127.0.0.1:{port}{path}", json.dumps(body), headers, 8, 1)  # warm-up: pools, lazy statics
        for rnd in range(a.rounds):
            for name, port, path, body, headers, pid in scenarios:
                url = f"http://127.0.0.1:{port}{path}"
                r1 = wrk(url, json.dumps(body), headers, 1, a.duration)
                c0 = cpu_seconds(pid) if pid else None
                own = FEATURE_THREADS.get(name)
                t0 = thread_cpu_seconds(pid, own) if own else None
                r32 = wrk(url, json.dumps(body), headers, 32, a.duration)
                cpu_us = (cpu_seconds(pid) - c0) / r32[3] * 1e6 if pid else None
                samples[name].append({"rps_32": r32[0], "p50_1_ms": r1[1], "p99_1_ms": r1[2], "p50_32_ms": r32[1],
                                      "p99_32_ms": r32[2], "cpu_us_per_req": cpu_us, "requests_32": r32[3]})
                if own:
                    # The feature's own threads, per request: unlike a ratio of two runs, this
                    # does not move with what the rest of the machine does to the workers.
                    own_us[name].append((thread_cpu_seconds(pid, own) - t0) / r32[3] * 1e6)
                if name == "ledger_ship":
                    lag_max = max(lag_max, lag()[0])
                print(f"  round {rnd + 1} {name}: {r32[0]:.0f} req/s"
                      + (f", {cpu_us:.1f} us/req" if cpu_us else ""), file=sys.stderr)
        per_round = {name: [{"rps_vs_bare": round(s["rps_32"] / b["rps_32"], 3),
                             "cpu_vs_bare": round(s["cpu_us_per_req"] / b["cpu_us_per_req"], 3)
                             if s["cpu_us_per_req"] else None}
                            for s, b in zip(samples[name], samples["bare"])] for name in samples}
        rows = {name: {k: statistics.median(x[k] for x in runs) if runs[0][k] is not None else None
                       for k in runs[0]} for name, runs in samples.items()}
        if a.otlp:
            # Tracing's cost: the traced gateway against the untraced one, within each round.
            for x, t, u in zip(per_round["otlp"], samples["otlp"], samples["passthrough"]):
                x["cpu_vs_passthrough"] = round(t["cpu_us_per_req"] / u["cpu_us_per_req"], 3)
        # The ledger's own cost: the ledger gateway against the same pass-through without it,
        # within each round.
        def own_threads(name):
            """The feature's own threads per request, and as a share of the same round's
            pass-through request (median of rounds)."""
            return {"own_threads_us_per_req": round(statistics.median(own_us[name]), 3),
                    "own_threads_share": round(statistics.median(
                        o / p["cpu_us_per_req"] for o, p in zip(own_us[name], samples["passthrough"])), 4)}

        ledger_overhead = statistics.median(l["cpu_us_per_req"] / p["cpu_us_per_req"] - 1
                                            for l, p in zip(samples["ledger"], samples["passthrough"]))
        # The same costs from adjacent pairs of runs (see `paired`): the figures the targets are read on.
        by_scenario = {name: (f"http://127.0.0.1:{port}{path}", json.dumps(body), headers, pid)
                       for name, port, path, body, headers, pid in scenarios}
        ledger_paired, ledger_pairs = paired(by_scenario["passthrough"], by_scenario["ledger"], a.pairs,
                                             a.duration)
        if a.otlp:
            otlp_paired, otlp_pairs = paired(by_scenario["passthrough"], by_scenario["otlp"], a.pairs,
                                             a.duration)
        drained_s, shipped = None, 0.0
        dropped = lag(ledger_admin)[2] + (lag()[2] if postgres else 0)
        if postgres:
            t0 = time.time()
            while lag()[0] > 0 and time.time() - t0 < 60:
                time.sleep(0.05)
            drained_s = time.time() - t0
            shipped = lag()[1]
        ledger = {"cpu_overhead": round(ledger_overhead, 4),
                  "cpu_overhead_paired": round(ledger_paired - 1, 4), "pairs": ledger_pairs,
                  "dropped_records": dropped,
                  "rps_32_ledger": rows["ledger"]["rps_32"], "rps_32_without": rows["passthrough"]["rps_32"],
                  **own_threads("ledger")}
        if postgres:
            ledger["shipping"] = {
                "lag_max_records": lag_max, "drain_after_load_s": drained_s, "shipped_records": shipped,
                "rps_32": rows["ledger_ship"]["rps_32"],
                "cpu_overhead": round(statistics.median(l["cpu_us_per_req"] / p["cpu_us_per_req"] - 1 for l, p in
                                                        zip(samples["ledger_ship"], samples["passthrough"])), 4),
                **own_threads("ledger_ship")}

        stream = {"model": "m-slow", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
        slow_bare = start([bins / "stav-bench-bare-pingora", f"127.0.0.1:{(sb := free_port())}", f"127.0.0.1:{slow_port}", "2"])
        procs.append(slow_bare)
        wait_port(sb)
        rows["direct"]["ttft_ms"] = ttft(slow_port, "/v1/chat/completions", stream, {})
        rows["bare"]["ttft_ms"] = ttft(sb, "/v1/chat/completions", stream, {})
        rows["passthrough"]["ttft_ms"] = ttft(gw_port, "/v1/chat/completions", stream, auth)
        rows["ledger"]["ttft_ms"] = ttft(ledger_port, "/v1/chat/completions", stream, auth)
        if postgres:
            rows["ledger_ship"]["ttft_ms"] = ttft(ship_port, "/v1/chat/completions", stream, auth)
        rows["translate"]["ttft_ms"] = ttft(gw_port, "/v1/messages", {**stream, "max_tokens": 64},
                                            {**auth, "anthropic-version": "2023-06-01"})
        # auto for a team whose router picks the paced model
        rows["auto"]["ttft_ms"] = ttft(gw_port, "/v1/chat/completions", {**stream, "model": "auto"},
                                       {"Authorization": f"Bearer {PACED_KEY}"})
        if a.otlp:
            rows["otlp"]["ttft_ms"] = ttft(otlp_port, "/v1/chat/completions", stream, auth)
            time.sleep(1.5)  # the last batch goes out
            exported = admin_metric(otlp_admin, "stav_otel_spans_exported_total")
            dropped = sum(admin_metric(otlp_admin, "stav_otel_spans_dropped_total", f'{{reason="{r}"}}')
                          for r in ("queue_full", "export_failed"))
            otlp = {"spans_exported": exported, "spans_dropped": dropped, "sink_posts": sink.posts,
                    "sink_bytes": sink.bytes, "cpu_vs_passthrough_paired": otlp_paired, "pairs": otlp_pairs,
                    **own_threads("otlp")}
        if "passthrough_log_off" in rows:
            rows["passthrough_log_off"]["ttft_ms"] = None

        memory = {"rest_kib": rest}
        idle = {**stream, "model": "m-idle"}
        for n in [int(x) for x in a.idle.split(",") if x]:
            # Fresh processes for each count, measured from their own resting size: a process that
            # just served the load above keeps that heap and would look cheaper per stream.
            ib, ig, ia = free_port(), free_port(), free_port()
            (tmp / f"idle{n}.toml").write_text(config(ig, ia))
            fresh = [start([bins / "stav-bench-bare-pingora", f"127.0.0.1:{ib}", f"127.0.0.1:{idle_port}", "2"]),
                     start([bins / "stav-gateway", "--config", str(tmp / f"idle{n}.toml")],
                           env=GATEWAY_ENV)]
            procs.extend(fresh)
            wait_port(ib)
            wait_port(ig)
            time.sleep(0.5)
            b0, g0 = rss_kib(fresh[0].pid), rss_kib(fresh[1].pid)
            g = asyncio.run(hold_streams(ig, "/v1/chat/completions", idle, auth, n, fresh[1].pid))
            b = asyncio.run(hold_streams(ib, "/v1/chat/completions", idle, {}, n, fresh[0].pid))
            memory[f"idle_{n}"] = {"gateway_rss_kib": g, "bare_rss_kib": b,
                                   "gateway_kib_per_stream": (g - g0) / n,
                                   "bare_kib_per_stream": (b - b0) / n}
            for p in fresh:
                p.send_signal(signal.SIGINT)
                p.wait(10)
            time.sleep(1)

        if a.callgrind:
            # Same scenarios, sequential, each proxy under callgrind.
            cg_bare, cg_gw, cg_admin = free_port(), free_port(), free_port()
            (tmp / "cg.toml").write_text(config(cg_gw, cg_admin))
            by_name = {name: (path, body, headers) for name, _, path, body, headers, _ in scenarios}
            ir = instructions_per_request(
                [bins / "stav-bench-bare-pingora", f"127.0.0.1:{cg_bare}", f"127.0.0.1:{mock_port}", "2"],
                cg_bare, [("bare", *by_name["bare"])], a.callgrind, tmp / "cg-bare")
            gw_dumps = {}
            ir.update(instructions_per_request(
                [bins / "stav-gateway", "--config", tmp / "cg.toml"], cg_gw,
                [(n, *by_name[n]) for n in ("passthrough", "translate", "auto")], a.callgrind, tmp / "cg-gw",
                dumps=gw_dumps))
            if a.otlp:
                cg_otlp, cg_otlp_admin = free_port(), free_port()
                (tmp / "cg-otlp.toml").write_text(traced(cg_otlp, cg_otlp_admin))
                ir.update(instructions_per_request(
                    [bins / "stav-gateway", "--config", tmp / "cg-otlp.toml"], cg_otlp,
                    [("otlp", *by_name["otlp"])], a.callgrind, tmp / "cg-otlp"))
            cgl_gw, cgl_admin = free_port(), free_port()
            (tmp / "cgl.toml").write_text(config(cgl_gw, cgl_admin, '[ledger]\ndir = "ledger-cg"\n'))
            ir.update(instructions_per_request(
                [bins / "stav-gateway", "--config", tmp / "cgl.toml"], cgl_gw,
                [("ledger", *by_name["ledger"])], a.callgrind, tmp / "cg-gwl"))
            # The credential scrubber's cost: the same pass-through with no provider credential
            # configured, so that there is nothing to scrub (the scrubber is then skipped whole).
            cgn_gw, cgn_admin = free_port(), free_port()
            no_credential = config(cgn_gw, cgn_admin).replace('api_key_env = "STAV_BENCH_UPSTREAM_KEY"\n', "")
            assert "api_key_env" not in no_credential
            (tmp / "cgn.toml").write_text(no_credential)
            unscrubbed = instructions_per_request(
                [bins / "stav-gateway", "--config", tmp / "cgn.toml"], cgn_gw,
                [("passthrough", *by_name["passthrough"]), ("translate", *by_name["translate"])],
                a.callgrind, tmp / "cg-gwn")
            scrub = {f"{n}_instructions_without_credential": round(unscrubbed[n]) for n in unscrubbed}
            for n in ("passthrough", "translate"):
                own = scrubber_instructions(gw_dumps[n], a.callgrind)
                scrub[f"{n}_scrubber_instructions"] = round(own)
                scrub[f"{n}_scrubber_share"] = round(own / ir[n], 4)
            scrub.update({f"{n}_instructions_vs_without": round(ir[n] / unscrubbed[n], 4) for n in unscrubbed})
            for name, count in ir.items():
                rows[name]["instructions_per_req"] = round(count)
                rows[name]["instructions_vs_bare"] = round(count / ir["bare"], 3)

        floor = rows["bare"]
        table = []
        for name, r in rows.items():
            added = lambda k: r[k] - rows["direct"][k]
            table.append({
                "scenario": name, **{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()},
                "added_p50_1_ms": round(added("p50_1_ms"), 4), "added_p99_1_ms": round(added("p99_1_ms"), 4),
                "added_p99_32_ms": round(added("p99_32_ms"), 4),
                "rps_vs_bare": statistics.median(x["rps_vs_bare"] for x in per_round[name]),
                "cpu_vs_bare": statistics.median(x["cpu_vs_bare"] for x in per_round[name])
                if r["cpu_us_per_req"] else None,
                "rounds": per_round[name],
            })
        result = {"machine": {"cpus": os.cpu_count()}, "duration_s": a.duration, "rounds": a.rounds, "chunks": a.chunks,
                  "scenarios": table, "memory": memory, "ledger": ledger}
        if a.callgrind:
            result["scrub"] = scrub
        if a.otlp:
            o = rows["otlp"]
            otlp["cpu_vs_passthrough"] = statistics.median(x["cpu_vs_passthrough"] for x in per_round["otlp"])
            if "instructions_per_req" in o:
                otlp["instructions_vs_passthrough"] = round(
                    o["instructions_per_req"] / rows["passthrough"]["instructions_per_req"], 3)
            result["otlp"] = otlp
        Path(a.out).write_text(json.dumps(result, indent=2))

        cols = ["scenario", "rps_32", "rps_vs_bare", "p50_1_ms", "p99_1_ms", "added_p99_1_ms", "p99_32_ms",
                "cpu_us_per_req", "cpu_vs_bare", "instructions_vs_bare", "ttft_ms"]
        print(" | ".join(cols))
        for row in table:
            print(" | ".join("-" if row.get(c) is None else (f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]))
                             for c in cols))
        if a.otlp:
            print("tracing (otlp vs passthrough): CPU/req x{cpu_vs_passthrough_paired} in ABBA pairs "
                  "(x{cpu_vs_passthrough} across rounds), instructions/req x{ins}; "
                  "spans exported {spans_exported:.0f}, dropped {spans_dropped:.0f}; sink {sink_posts} posts, "
                  "{sink_bytes} bytes; its own threads {own_threads_us_per_req} us/req ({share:.1f}% of a "
                  "pass-through request)".format(ins=otlp.get("instructions_vs_passthrough", "-"),
                                                 share=otlp["own_threads_share"] * 100, **otlp))
        if a.callgrind:
            print("credential scrubber (instructions/req against no credential to scrub): pass-through "
                  f"x{scrub['passthrough_instructions_vs_without']}, translation x{scrub['translate_instructions_vs_without']}; "
                  f"its own functions: {scrub['passthrough_scrubber_instructions']} per pass-through request "
                  f"({scrub['passthrough_scrubber_share'] * 100:.2f}%), {scrub['translate_scrubber_instructions']} "
                  f"per translated one ({scrub['translate_scrubber_share'] * 100:.2f}%)")
        print(f"ledger: {(ledger_paired - 1) * 100:+.1f}% CPU per request against the same pass-through in ABBA "
              f"pairs ({ledger_overhead * 100:+.1f}% across rounds); its own threads "
              f"{ledger['own_threads_us_per_req']} us/req ({ledger['own_threads_share'] * 100:.1f}% of a pass-through "
              f"request); "
              + (f"shipping to PostgreSQL (row ledger_ship): its own threads "
                 f"{ledger['shipping']['own_threads_us_per_req']} us/req "
                 f"({ledger['shipping']['own_threads_share'] * 100:.1f}%), lag at most {lag_max:.0f} records at the "
                 f"end of a load run, drained {drained_s:.2f} s after the load, {shipped:.0f} records shipped"
                 if postgres else "no PostgreSQL installed: shipping not measured")
              + f"; dropped {dropped:.0f}")
        print(f"memory at rest: gateway {rest['gateway'] / 1024:.1f} MiB, bare {rest['bare'] / 1024:.1f} MiB")
        for k, v in memory.items():
            if k.startswith("idle_"):
                print(f"{k}: gateway {v['gateway_rss_kib'] / 1024:.1f} MiB ({v['gateway_kib_per_stream']:.1f} KiB/stream), "
                      f"bare {v['bare_rss_kib'] / 1024:.1f} MiB ({v['bare_kib_per_stream']:.1f} KiB/stream)")
        print(f"written to {a.out}")
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        if "postgres" in locals() and postgres:
            postgres.remove()


if __name__ == "__main__":
    main()
