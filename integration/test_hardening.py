"""Issue 15, hardening, tried as an attacker would: an upstream that echoes its credential (in
headers, escaped in bodies, inside stream error events), client headers that must not cross to
the upstream, repeated cap headers, slow and pipelined clients."""

import base64
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import openai
import pytest

from conftest import CLIENT_KEY, UPSTREAM_KEY, Process, free_port, read_response, small_config
from stavkeys import record

FORMS = [UPSTREAM_KEY, UPSTREAM_KEY.replace("-", "\\u002d"), "".join(f"%{b:02X}" for b in UPSTREAM_KEY.encode()),
         base64.b64encode(f"api:{UPSTREAM_KEY}".encode()).decode()[8:]]
MSG = [{"role": "user", "content": "x"}]


def leaked(text: str):
    return [f for f in FORMS if f in text]


def everything(response) -> str:
    """Status line, headers and body of what a client received."""
    response.read()
    return f"{response.status_code} {dict(response.headers)} {response.text}"


def openai_call(gateway, model, script, stream=False, route="chat"):
    c = openai.OpenAI(base_url=gateway.base + "/v1", api_key=CLIENT_KEY, max_retries=0)
    headers = {"x-script": script, "x-script-echo": "1"}
    try:
        if route == "embeddings":
            r = c.embeddings.with_raw_response.create(model="emb-a", input="x", extra_headers=headers)
        elif route == "responses":
            r = c.responses.with_raw_response.create(model=model, input="x", stream=stream, extra_headers=headers)
        else:
            r = c.chat.completions.with_raw_response.create(model=model, messages=MSG, stream=stream,
                                                            extra_headers=headers)
        return everything(r.http_response)
    except openai.APIStatusError as e:
        return everything(e.response)


def anthropic_call(gateway, model, script, stream=False, count=False):
    c = anthropic.Anthropic(base_url=gateway.base, api_key=CLIENT_KEY, max_retries=0)
    headers = {"x-script": script, "x-script-echo": "1"}
    try:
        if count:
            r = c.messages.with_raw_response.count_tokens(model=model, messages=MSG, extra_headers=headers)
        else:
            r = c.messages.with_raw_response.create(model=model, max_tokens=5, messages=MSG, stream=stream,
                                                    extra_headers=headers)
        return everything(r.http_response)
    except anthropic.APIStatusError as e:
        return everything(e.response)


# Every mode: both pass-throughs, both translations, and the Responses API on both provider kinds.
CALLS = {
    "openai-passthrough": lambda g, s, st: openai_call(g, "chat-a", s, st),
    "anthropic-passthrough": lambda g, s, st: anthropic_call(g, "claude-opus-4-1", s, st),
    "anthropic-to-openai": lambda g, s, st: anthropic_call(g, "chat-a", s, st),
    "openai-to-claude": lambda g, s, st: openai_call(g, "claude-opus-4-1", s, st),
    "responses-openai": lambda g, s, st: openai_call(g, "chat-a", s, st, route="responses"),
    "responses-claude": lambda g, s, st: openai_call(g, "claude-opus-4-1", s, st, route="responses"),
}


@pytest.mark.parametrize("mode", CALLS)
@pytest.mark.parametrize("script,stream", [("", False), ("", True), ("status-400", False), ("status-500", False),
                                           ("leak-escaped", False), ("leak-stream", True)])
def test_no_form_of_the_upstream_credential_reaches_the_client(gateway, mode, script, stream):
    got = CALLS[mode](gateway, script, stream)
    assert leaked(got) == [], f"{mode} {script}: {got[:600]}"
    # The echoed header carried it: it is dropped, not passed on.
    assert "x-echo-auth" not in got and "x-echo-basic" not in got
    if script == "leak-stream":
        assert "[redacted]" in got, got[:600]


def test_count_tokens_and_embeddings_are_scrubbed_too(gateway):
    for got in (anthropic_call(gateway, "claude-opus-4-1", "", count=True),
                anthropic_call(gateway, "claude-opus-4-1", "leak-escaped", count=True),
                openai_call(gateway, None, "", route="embeddings"),
                openai_call(gateway, None, "leak-escaped", route="embeddings")):
        assert leaked(got) == [] and "x-echo-auth" not in got, got[:400]


def test_only_allowed_headers_cross_to_the_upstream(gateway):
    hostile = {"OpenAI-Organization": "org-attacker", "OpenAI-Project": "proj-attacker", "Cookie": "s=1",
               "X-Forwarded-For": "203.0.113.7", "X-Stav-Max-Tier": "global-commercial", "X-Anything": "1",
               "X-Stainless-Arch": "x64"}
    gateway.clear_upstream()
    openai.OpenAI(base_url=gateway.base + "/v1", api_key=CLIENT_KEY, max_retries=0, default_headers=hostile) \
        .chat.completions.create(model="chat-a", messages=MSG)
    anthropic.Anthropic(base_url=gateway.base, api_key=CLIENT_KEY, max_retries=0, default_headers=hostile) \
        .messages.create(model="claude-opus-4-1", max_tokens=5, messages=MSG,
                         extra_headers={"anthropic-beta": "context-management-2025-06-27"})
    openai_up, claude_up = gateway.upstream_requests()[-2:]
    for up in (openai_up, claude_up):
        names = set(up["headers"])
        for h in hostile:
            assert h.lower() not in names, (h, names)
        assert not [n for n in names if n.startswith("x-stainless")], names
        assert up["headers"]["user-agent"].startswith("stav-gateway/")
    assert openai_up["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert claude_up["headers"]["x-api-key"] == UPSTREAM_KEY
    assert claude_up["headers"]["anthropic-beta"] == "context-management-2025-06-27"
    assert "authorization" not in claude_up["headers"]


def raw(port, data: bytes, timeout=5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_response(s)


def test_headers_the_client_names_in_connection_stay_here(gateway):
    # RFC 9110 §7.6.1: fields a client's Connection names are hop-by-hop, even allowed ones.
    body = json.dumps({"model": "claude-opus-4-1", "max_tokens": 5, "messages": MSG}).encode()
    gateway.clear_upstream()
    answer = raw(gateway.port, (f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {CLIENT_KEY}\r\n"
                                "anthropic-version: 2023-06-01\r\nContent-Type: application/json\r\n"
                                "anthropic-beta: hop-only\r\nConnection: close, Anthropic-Beta\r\n"
                                f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    up = gateway.upstream_requests()[-1]
    assert "anthropic-beta" not in up["headers"], up["headers"]
    assert "connection" not in up["headers"] or "anthropic-beta" not in up["headers"]["connection"].lower()
    assert up["headers"]["anthropic-version"] == "2023-06-01"


def test_a_repeated_cap_header_can_only_lower_the_cap(gateway):
    body = json.dumps({"model": "claude-opus-4-1", "max_tokens": 5, "messages": MSG}).encode()
    answer = raw(gateway.port, (f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: {CLIENT_KEY}\r\n"
                                "anthropic-version: 2023-06-01\r\nContent-Type: application/json\r\n"
                                "X-Stav-Max-Tier: global-commercial\r\nX-Stav-Max-Tier: sovereign\r\n"
                                f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"sovereignty_policy_violation" in answer


def test_pipelined_requests_are_all_answered_in_order(gateway):
    auth = f"Authorization: Bearer {CLIENT_KEY}\r\n"
    body = json.dumps({"model": "chat-a", "messages": MSG}).encode()
    post = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    get = f"GET /v1/models HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
        s.sendall(get + post + get)
        got = b""
        deadline = time.time() + 5
        while got.count(b"HTTP/1.1 ") < 3 and time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            got += chunk
    statuses = re.findall(rb"HTTP/1\.1 \d{3} [A-Za-z ]+\r\n", got)
    assert statuses == [b"HTTP/1.1 200 OK\r\n"] * 3, got[:600]
    order = [got.find(b'"object":"list"'), got.find(b"Hello from the scripted upstream"),
             got.rfind(b'"object":"list"')]
    assert order == sorted(order) and order[0] != order[2]


@pytest.fixture()
def guarded(tmp_path):
    """A gateway of its own with a short header deadline and a small bound on pending headers."""
    upstream_port, port, admin = free_port(), free_port(), free_port()
    upstream = subprocess.Popen([sys.executable, str(Path(__file__).parent / "scripted_upstream.py"),
                                 str(upstream_port)], stdout=subprocess.DEVNULL)
    (tmp_path / "keys.toml").write_text(record("itclient0001", "it", CLIENT_KEY))
    cfg = tmp_path / "stav.toml"
    cfg.write_text(small_config(port, admin, upstream_port, '[store]\nkind = "file"\npath = "keys.toml"',
                                server_extra="header_read_timeout_ms = 1500\nmax_pending_headers = 16"))
    node = Process(cfg, port, admin, upstream_port)
    yield node
    node.stop()
    upstream.terminate()
    upstream.wait(10)


def test_a_header_that_dribbles_in_is_cut_at_the_deadline(guarded):
    with socket.create_connection(("127.0.0.1", guarded.gw.port), timeout=10) as s:
        t0 = time.monotonic()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n")
        closed_after = None
        for i in range(12):
            time.sleep(0.4)
            try:
                s.sendall(f"X-Slow-{i}: a\r\n".encode())
                s.setblocking(False)
                try:
                    if s.recv(1024) == b"":
                        closed_after = time.monotonic() - t0
                        break
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
            except OSError:
                closed_after = time.monotonic() - t0
                break
        assert closed_after is not None, "the connection was still open after 4.8 s"
        assert 1.3 < closed_after < 3.0, closed_after
    # A prompt request is served as usual.
    c = openai.OpenAI(base_url=guarded.gw.base + "/v1", api_key=CLIENT_KEY, max_retries=0)
    assert c.chat.completions.create(model="chat-a", messages=MSG).choices[0].message.content


def test_connections_waiting_for_a_header_are_bounded(guarded):
    held = []
    try:
        for _ in range(16):
            s = socket.create_connection(("127.0.0.1", guarded.gw.port), timeout=5)
            s.sendall(b"GET /v1/models HTTP/1.1\r\n")
            held.append(s)
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", guarded.gw.port), timeout=5)
        extra.sendall(b"GET /v1/models HTTP/1.1\r\n")
        try:
            closed = extra.recv(1024) == b""
        except ConnectionResetError:  # closed with our bytes unread: the kernel resets
            closed = True
        assert closed, "the 17th waiting connection is closed at once"
        extra.close()
    finally:
        for s in held:
            s.close()
    time.sleep(0.2)
    c = openai.OpenAI(base_url=guarded.gw.base + "/v1", api_key=CLIENT_KEY, max_retries=0)
    assert c.models.list().data
    assert "stav_connections_refused_total{reason=\"pending_headers\"} 1" in guarded.gw.metrics()
