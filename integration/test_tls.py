"""Issue 6, TLS at the edge: the SDKs over HTTPS with a test CA generated here, over HTTP/1.1 and
HTTP/2 (ALPN), and a certificate swapped on SIGHUP without dropping an open stream."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import anthropic
import openai
import pytest

from conftest import needs, CLIENT_KEY, Process, free_port, small_config, wait_http
from stavkeys import record

pytestmark = needs("openssl")
MSG = [{"role": "user", "content": "x"}]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def issue(d: Path, name: str, serial: str):
    """A server certificate for 127.0.0.1 and localhost, signed by the test CA in `d`."""
    (d / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-subj", f"/CN={name}",
            "-out", f"{name}.csr", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", serial,
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)


@pytest.fixture(scope="module")
def tls_gateway(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=Stav test CA", cwd=d)
    issue(d, "first", "1001")
    issue(d, "second", "2002")
    shutil.copy(d / "first.pem", d / "server.pem")
    shutil.copy(d / "first.key", d / "server.key")
    up = free_port()
    upstream = subprocess.Popen([sys.executable, str(Path(__file__).parent / "scripted_upstream.py"), str(up)],
                                stdout=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{up}/_requests")
    (d / "keys.toml").write_text(record("itclient0001", "it", CLIENT_KEY))
    port, admin = free_port(), free_port()
    (d / "gw.toml").write_text(small_config(port, admin, up, '[store]\npath = "keys.toml"',
                                            server_extra='tls_cert = "server.pem"\ntls_key = "server.key"'))
    gw = Process(d / "gw.toml", port, admin, up, wait=False)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.3)
        yield gw, d, f"https://127.0.0.1:{port}"
    finally:
        gw.stop()
        upstream.terminate()
        upstream.wait(10)


def serial_presented(port, ca):
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port)) as s, ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
        der = t.getpeercert(binary_form=True)
    # Ask openssl for the serial of the DER certificate.
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                         capture_output=True, check=True).stdout.decode()
    return int(out.strip().split("=")[1], 16)


@pytest.mark.parametrize("http2", [False, True])
def test_both_sdks_over_https(tls_gateway, http2):
    gw, d, base = tls_gateway
    ca = ssl.create_default_context(cafile=str(d / "ca.pem"))
    oa = openai.OpenAI(base_url=base + "/v1", api_key=CLIENT_KEY, max_retries=0,
                       http_client=openai.DefaultHttpx2Client(verify=ca, http2=http2, http1=not http2))
    raw = oa.chat.completions.with_raw_response.create(model="chat-a", messages=MSG)
    assert raw.http_response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert raw.parse().choices[0].message.content == "Hello from the scripted upstream."
    assert raw.headers["x-stav-sovereignty-tier"] == "sovereign"
    chunks = oa.chat.completions.create(model="chat-a", messages=MSG, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the scripted upstream."
    an = anthropic.Anthropic(base_url=base, api_key=CLIENT_KEY, max_retries=0,
                             http_client=anthropic.DefaultHttpxClient(verify=ca, http2=http2, http1=not http2))
    with an.messages.stream(model="chat-a", max_tokens=20, messages=MSG) as s:
        assert "".join(s.text_stream) == "Hello from the scripted upstream."
    # Errors keep their contract shape over TLS and HTTP/2 too.
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=base, api_key="sk-nope", max_retries=0,
                            http_client=anthropic.DefaultHttpxClient(verify=ca, http2=http2)).messages.create(
            model="chat-a", max_tokens=5, messages=MSG)


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_gateway):
    _, _, base = tls_gateway
    with pytest.raises(openai.APIConnectionError):
        openai.OpenAI(base_url=base + "/v1", api_key=CLIENT_KEY, max_retries=0).models.list()


def test_certificate_reload_on_sighup_keeps_open_streams(tls_gateway):
    gw, d, base = tls_gateway
    port = int(base.rsplit(":", 1)[1])
    ca = d / "ca.pem"
    assert serial_presented(port, ca) == 1001
    oa = openai.OpenAI(base_url=base + "/v1", api_key=CLIENT_KEY, max_retries=0,
                       http_client=openai.DefaultHttpx2Client(verify=ssl.create_default_context(cafile=str(ca)),
                                                               http2=True))
    got = []

    def hold():
        s = oa.chat.completions.create(model="chat-a", messages=MSG, stream=True,
                                       extra_headers={"x-script": "slow-stream-40"})
        got.append("".join(c.choices[0].delta.content or "" for c in s if c.choices))

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(0.5)
    shutil.copy(d / "second.pem", d / "server.pem")
    shutil.copy(d / "second.key", d / "server.key")
    os.kill(gw.proc.pid, signal.SIGHUP)
    deadline = time.time() + 5
    while time.time() < deadline and serial_presented(port, ca) != 2002:
        time.sleep(0.1)
    assert serial_presented(port, ca) == 2002, "new connections must see the new certificate"
    t.join(20)
    assert got == ["." * 40 + "Hello from the scripted upstream."], "the open stream was cut by the reload"
    assert "TLS certificate reloaded" in gw.log_path.read_text()
