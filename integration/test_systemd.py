"""Issue 6, bare metal: the systemd unit passes `systemd-analyze verify` and its security
review, credentials arrive as systemd credentials, and a binary upgrade (`-u`, what the unit's
ExecReload does) with streams open cuts none of them and refuses no new request."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import openai
import pytest

from conftest import BIN, CLIENT_KEY, ROOT, UPSTREAM_KEY, Process, free_port, needs, small_config, wait_http
from stavkeys import record

UNIT = ROOT / "systemd" / "stav-gateway.service"
needs_systemd = needs("systemd-analyze")


def unit_with_this_binary(tmp_path):
    unit = tmp_path / "stav-gateway.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/stav-gateway", str(BIN)))
    return unit


@needs_systemd
def test_unit_verifies(tmp_path):
    r = subprocess.run(["systemd-analyze", "verify", str(unit_with_this_binary(tmp_path))],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Unknown" not in r.stderr, r.stderr


@needs_systemd
def test_unit_security_exposure_is_at_most_2(tmp_path):
    # systemd 252's --threshold is on a 0-100 scale: 20 means an exposure of 2.0.
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20",
                        str(unit_with_this_binary(tmp_path))], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout[-2000:]
    assert "Overall exposure level" in r.stdout
    unit = UNIT.read_text()
    for setting in ("User=stav", "NoNewPrivileges=yes", "ProtectSystem=strict",
                    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "LimitNOFILE=", "LoadCredential=",
                    "ExecStartPre=/usr/local/bin/stav-gateway --check", "-u --config"):
        assert setting in unit, setting


@pytest.fixture()
def upstream():
    port = free_port()
    p = subprocess.Popen([sys.executable, str(Path(__file__).parent / "scripted_upstream.py"), str(port)],
                         stdout=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/_requests")
    yield port
    p.terminate()
    p.wait(10)


def write_gateway(tmp_path, upstream, grace=None, server_extra=""):
    """Keys and a config for one gateway in `tmp_path`; returns (config text, port, admin port)."""
    (tmp_path / "keys.toml").write_text(record("itclient0001", "it", CLIENT_KEY))
    port, admin = free_port(), free_port()
    if grace is not None:
        server_extra = f"grace_period_seconds = {grace}\n{server_extra}"
    text = small_config(port, admin, upstream, '[store]\npath = "keys.toml"', server_extra=server_extra)
    if grace is not None:
        text = text.replace("grace_period_seconds = 1\n", "", 1)
    (tmp_path / "gw.toml").write_text(text)
    return text, port, admin


def client_for(gw):
    return openai.OpenAI(base_url=gw.gw.base + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)


class Traffic:
    """`streams` slow streams held open and one client asking all along, in threads; on exit,
    what every one of them saw."""

    def __init__(self, client, streams=1, events=40, model="chat-a"):
        self.client, self.events, self.model = client, events, model
        self.got, self.codes, self.stop = [], [], threading.Event()
        self.threads = [threading.Thread(target=self.hold) for _ in range(streams)]
        self.asker = threading.Thread(target=self.ask)

    def hold(self):
        try:
            s = self.client.chat.completions.create(model="chat-a", messages=[{"role": "user", "content": "x"}],
                                                    stream=True, extra_headers={"x-script": f"slow-stream-{self.events}"})
            self.got.append("".join(c.choices[0].delta.content or "" for c in s if c.choices))
        except Exception as e:  # a cut stream is the failure these tests are about
            self.got.append(repr(e))

    def ask(self):
        while not self.stop.is_set():
            try:
                self.client.chat.completions.create(model=self.model, messages=[{"role": "user", "content": "x"}])
                self.codes.append(200)
            except Exception as e:
                self.codes.append(repr(e))
            time.sleep(0.02)

    def __enter__(self):
        for t in self.threads:
            t.start()
        self.asker.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.asker.join(30)
        for t in self.threads:
            t.join(30)

    def check(self):
        assert self.got == ["." * self.events + "Hello from the scripted upstream."] * len(self.threads), \
            f"a stream was cut: {self.got}"
        refused = [c for c in self.codes if c != 200]
        assert len(self.codes) > 10 and not refused, refused[:3]


def test_credentials_come_from_the_systemd_credentials_directory(tmp_path, upstream):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "STAV_IT_UPSTREAM_KEY").write_text(UPSTREAM_KEY + "\n")
    _, port, admin = write_gateway(tmp_path, upstream)
    env = {k: v for k, v in os.environ.items() if k != "STAV_IT_UPSTREAM_KEY"}
    env["CREDENTIALS_DIRECTORY"] = str(creds)
    gw = Process(tmp_path / "gw.toml", port, admin, upstream, env=env)
    try:
        client_for(gw).chat.completions.create(model="chat-a", messages=[{"role": "user", "content": "x"}])
        assert gw.gw.upstream_requests()[-1]["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    finally:
        gw.stop()
    # Without either, the start fails and names the field.
    del env["CREDENTIALS_DIRECTORY"]
    r = subprocess.run([str(BIN), "--config", str(tmp_path / "gw.toml")], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and "providers[0].api_key_env" in r.stderr


def test_upgrade_with_streams_open_cuts_none_and_refuses_nothing(tmp_path, upstream):
    _, port, admin = write_gateway(tmp_path, upstream, grace=8, server_extra=(
        f'upgrade_sock = "{tmp_path}/upgrade.sock"\npid_file = "{tmp_path}/gw.pid"'))
    old = Process(tmp_path / "gw.toml", port, admin, upstream)
    new = None
    try:
        with Traffic(client_for(old), streams=3, events=160) as traffic:
            time.sleep(1.0)  # the streams are open on the old process
            new = Process(tmp_path / "gw.toml", port, admin, upstream, args=("-u",), wait=False)
            # The new process listens on the upgrade socket before the old one may hand over.
            deadline = time.time() + 10
            while not (tmp_path / "upgrade.sock").exists():
                assert time.time() < deadline, "the new process never waited for the sockets"
                time.sleep(0.05)
            time.sleep(0.2)
            os.kill(old.proc.pid, signal.SIGQUIT)  # hand the sockets over, then drain
            wait_http(f"http://127.0.0.1:{admin}/healthz")
            time.sleep(2.0)
        traffic.check()
        # The old process finished its streams and left; the new one serves.
        old.proc.wait(30)
        assert new.proc.poll() is None
        client_for(new).chat.completions.create(model="chat-a", messages=[{"role": "user", "content": "x"}])
    finally:
        old.stop()
        if new:
            new.stop()


def test_shutdown_drains_open_streams_within_the_grace_period(tmp_path, upstream):
    _, port, admin = write_gateway(tmp_path, upstream, grace=6)
    gw = Process(tmp_path / "gw.toml", port, admin, upstream)
    try:
        traffic = Traffic(client_for(gw), streams=2, events=60)
        for t in traffic.threads:
            t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        for t in traffic.threads:
            t.join(20)
        assert traffic.got == ["." * 60 + "Hello from the scripted upstream."] * 2, traffic.got
        gw.proc.wait(15)
        # Pingora waits out the whole grace period, then exits.
        assert 5 <= time.monotonic() - t0 < 14
    finally:
        gw.stop()


def test_sighup_reloads_the_configuration_with_streams_open(tmp_path, upstream):
    text, port, admin = write_gateway(tmp_path, upstream)
    gw = Process(tmp_path / "gw.toml", port, admin, upstream)
    client = client_for(gw)
    ask_new = lambda: client.chat.completions.create(model="chat-new", messages=[{"role": "user", "content": "x"}])
    try:
        time.sleep(0.5)  # the reload service takes SIGHUP once it runs
        with pytest.raises(openai.NotFoundError):
            ask_new()
        with Traffic(client, model="chat-b") as traffic:
            time.sleep(0.4)
            # A new model appears; everything else stays.
            (tmp_path / "gw.toml").write_text(
                text + '\n[[models]]\nname = "chat-new"\nprovider = "scripted"\ntier = "sovereign"\n')
            gw.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 5
            while True:
                try:
                    ask_new()
                    break
                except openai.NotFoundError:
                    assert time.time() < deadline, "the new model never appeared"
                    time.sleep(0.05)
            # A broken configuration is refused; the running one stays.
            (tmp_path / "gw.toml").write_text(text.replace('tier = "sovereign"', 'tier = "nowhere"', 1))
            gw.proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            assert ask_new().choices
        traffic.check()
        log = gw.log_path.read_text()
        assert "configuration reloaded" in log and "configuration not reloaded" in log
        assert gw.proc.poll() is None
    finally:
        gw.stop()
