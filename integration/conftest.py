"""Starts the real gateway binary and a scripted upstream for the integration tests."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("STAV_BIN", ROOT / "target" / "debug" / "stav-gateway"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from stavkeys import make_key, record  # noqa: E402

CLIENT_KEY = make_key("itclient0001", "ClientKeyForTheIntegrationTests0")
SOVEREIGN_KEY = make_key("itsovereign1", "SovereignOnlyKeyForTheTestSuite0")
NO_ROUTER_KEY = make_key("itnorouter01", "KeyOfATeamWithoutARouterPolicy00")
UPSTREAM_KEY = "sk-upstream-secret-do-not-leak"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


class Gateway:
    def __init__(self, port, admin_port, upstream_port, log_path):
        self.base = f"http://127.0.0.1:{port}"
        self.admin = f"http://127.0.0.1:{admin_port}"
        self.upstream = f"http://127.0.0.1:{upstream_port}"
        self.port = port
        self.log_path = log_path

    def upstream_requests(self):
        with urllib.request.urlopen(self.upstream + "/_requests") as r:
            return json.loads(r.read())

    def clear_upstream(self):
        urllib.request.urlopen(urllib.request.Request(self.upstream + "/_requests", method="DELETE")).read()

    def metrics(self):
        with urllib.request.urlopen(self.admin + "/metrics") as r:
            return r.read().decode()

    def log(self):
        return Path(self.log_path).read_text()


def write_config(tmp, port, admin_port, upstream_port, dead_port):
    (tmp / "keys.toml").write_text(
        record("itclient0001", "it", CLIENT_KEY)
        + record("itsovereign1", "it", SOVEREIGN_KEY, max_tier="sovereign")
        + record("itnorouter01", "other", NO_ROUTER_KEY))
    up = f"http://127.0.0.1:{upstream_port}/v1"
    (tmp / "stav.toml").write_text(f"""
[server]
listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:{admin_port}"
max_body_bytes = 1048576
threads = 2
grace_period_seconds = 1
graceful_shutdown_timeout_seconds = 1
body_read_timeout_ms = 1000
max_header_bytes = 16384

[store]
kind = "file"
path = "keys.toml"

[[providers]]
name = "scripted"
api = "openai"
base_url = "{up}"
api_key_env = "STAV_IT_UPSTREAM_KEY"
forward_headers = ["x-script*"]

[[providers]]
name = "slow"
api = "openai"
base_url = "{up}"
api_key_env = "STAV_IT_UPSTREAM_KEY"
forward_headers = ["x-script*"]
first_byte_timeout_ms = 700
idle_timeout_ms = 700

[[providers]]
name = "anthropic-scripted"
api = "anthropic"
base_url = "http://127.0.0.1:{upstream_port}"
api_key_env = "STAV_IT_UPSTREAM_KEY"
forward_headers = ["x-script*"]

[[providers]]
name = "down"
api = "openai"
base_url = "http://127.0.0.1:{dead_port}/v1"
connect_timeout_ms = 1000
forward_headers = ["x-script*"]

[[models]]
name = "chat-a"
provider = "scripted"
upstream_model = "scripted/chat-a"
tier = "sovereign"

[[models]]
name = "chat-b"
provider = "scripted"
tier = "routed-commercial"

[[models]]
name = "emb-a"
provider = "scripted"
upstream_model = "scripted/emb-a"
tier = "sovereign"
kind = "embeddings"

[[models]]
name = "slow-model"
provider = "slow"
tier = "sovereign"

[[models]]
name = "down-model"
provider = "down"
tier = "sovereign"

[[models]]
name = "claude-*"
provider = "anthropic-scripted"
tier = "global-commercial"

[[models]]
name = "claude-pinned"
provider = "anthropic-scripted"
upstream_model = "claude-sonnet-4-5-20250929"
tier = "global-commercial"

[[teams]]
name = "it"
max_tier = "global-commercial"
router = {{ default = "chat-b", rules = [
  {{ when = {{ sensitive = true }}, model = "chat-a" }},
  {{ when = {{ code = true }}, model = "chat-a" }},
  {{ when = {{ domain = "creative" }}, model = "claude-opus-4-1" }},
  {{ when = {{ complexity = "high" }}, model = "chat-b" }},
] }}
""")
    return tmp / "stav.toml"


@pytest.fixture(scope="session")
def gateway(tmp_path_factory):
    if not BIN.exists():
        pytest.fail(f"gateway binary {BIN} is missing: run `cargo build` first (integration/test.sh does)")
    tmp = tmp_path_factory.mktemp("gw")
    port, admin_port, upstream_port, dead_port = free_port(), free_port(), free_port(), free_port()
    upstream = subprocess.Popen([sys.executable, str(Path(__file__).parent / "scripted_upstream.py"),
                                 str(upstream_port)], stdout=subprocess.DEVNULL)
    cfg = write_config(tmp, port, admin_port, upstream_port, dead_port)
    log_path = tmp / "gateway.log"
    env = dict(os.environ, STAV_IT_UPSTREAM_KEY=UPSTREAM_KEY, RUST_LOG="info")
    with open(log_path, "w") as log:
        gw = subprocess.Popen([str(BIN), "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_http(f"http://127.0.0.1:{upstream_port}/_requests")
        wait_http(f"http://127.0.0.1:{admin_port}/healthz")
        wait_http(f"http://127.0.0.1:{port}/v1/models")
        yield Gateway(port, admin_port, upstream_port, log_path)
    finally:
        gw.terminate()
        upstream.terminate()
        gw.wait(10)
        upstream.wait(10)


@pytest.fixture()
def anthropic_client(gateway):
    import anthropic

    return anthropic.Anthropic(base_url=gateway.base, api_key=CLIENT_KEY, max_retries=0, timeout=10)


@pytest.fixture()
def openai_client(gateway):
    import openai

    return openai.OpenAI(base_url=gateway.base + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=10)


def small_config(port, admin_port, upstream_port, store, listen_host="127.0.0.1", server_extra="", teams=""):
    """A gateway config with one scripted provider and two chat models, for tests that run their
    own gateways (key stores, several nodes)."""
    host = f"[{listen_host}]" if ":" in listen_host else listen_host
    return f"""
[server]
listen = "{host}:{port}"
admin_listen = "127.0.0.1:{admin_port}"
threads = 2
grace_period_seconds = 1
graceful_shutdown_timeout_seconds = 1
{server_extra}

{store}

[[providers]]
name = "scripted"
api = "openai"
base_url = "http://127.0.0.1:{upstream_port}/v1"
api_key_env = "STAV_IT_UPSTREAM_KEY"
forward_headers = ["x-script*"]

[[models]]
name = "chat-a"
provider = "scripted"
tier = "sovereign"

[[models]]
name = "chat-b"
provider = "scripted"
tier = "sovereign"

[[models]]
name = "emb-a"
provider = "scripted"
tier = "sovereign"
kind = "embeddings"

{teams}
"""


class Process:
    """A gateway process of a test's own, stopped at the end of the test's fixture."""

    def __init__(self, cfg_path, port, admin_port, upstream_port, env=None, args=(), wait=True):
        self.cfg = cfg_path
        self.log_path = Path(str(cfg_path) + ".log")
        if env is None:
            env = dict(os.environ, STAV_IT_UPSTREAM_KEY=UPSTREAM_KEY, RUST_LOG="info")
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen([str(BIN), "--config", str(cfg_path), *args], stdout=log,
                                         stderr=subprocess.STDOUT, env=env)
        self.gw = Gateway(port, admin_port, upstream_port, self.log_path)
        if wait:
            wait_http(f"http://127.0.0.1:{admin_port}/healthz")
            wait_http(f"http://127.0.0.1:{port}/v1/models")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:  # still draining a long grace period
                self.proc.kill()
                self.proc.wait(10)


def keys_cli(cfg, *args, check=True):
    """`stav-gateway keys ... --json`, parsed."""
    r = subprocess.run([str(BIN), "keys", "--config", str(cfg), *args], capture_output=True, text=True,
                       timeout=30)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def keys_json(cfg, *args):
    return json.loads(keys_cli(cfg, *args, "--json").stdout)


def metric(text, name, **labels):
    """The value of one sample in a Prometheus text exposition (0 if absent)."""
    want = {k: str(v) for k, v in labels.items()}
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if head == name and not want:
            return float(value)
        if head.startswith(name + "{"):
            got = dict(p.split("=", 1) for p in head[len(name) + 1:-1].split(",") if p)
            got = {k: v.strip('"') for k, v in got.items()}
            if all(got.get(k) == v for k, v in want.items()):
                return float(value)
    return 0.0


def needs(tool):
    """Skip a test whose system tool is missing on a developer's machine; in CI (`CI=true`), where
    integration/prereqs.sh installs it, a missing tool fails the test instead of hiding it."""
    import shutil

    missing = shutil.which(tool) is None
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"{tool} is missing in CI: integration/prereqs.sh should have installed it")
    return pytest.mark.skipif(missing, reason=f"{tool} is installed by integration/prereqs.sh")


def read_response(sock) -> bytes:
    """Read one HTTP/1.1 response from a raw socket: until its Content-Length is in, the peer
    closes, or the socket's timeout passes (whatever arrived is returned)."""
    data = b""
    try:
        while True:
            got = sock.recv(65536)
            if not got:
                break
            data += got
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(body) >= length[0]:
                    break
    except socket.timeout:
        pass
    return data
