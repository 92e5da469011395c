"""Issue 5, one node: key format, every 401 and 403 through both SDKs, rotation grace, expiry,
revocation latency, IP allowlists behind trusted proxies, rate limits, hot reload under load.

Two gateways share one keys file: `edge` takes clients directly (dual-stack listener, no
trusted proxies) and `behind` trusts 127.0.0.1 as its load balancer."""

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anthropic
import openai
import pytest

from conftest import (Process, free_port, keys_cli, keys_json, metric, small_config)
from stavkeys import make_key, record, well_formed

MSG = [{"role": "user", "content": "hello"}]
TEAMS = """
[[teams]]
name = "shared"
rpm = 4
"""


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keys")
    upstream_port = free_port()
    upstream = subprocess.Popen([sys.executable, str(Path(__file__).parent / "scripted_upstream.py"),
                                 str(upstream_port)], stdout=subprocess.DEVNULL)
    (tmp / "keys.toml").write_text(record("fixedkey0001", "it", make_key("fixedkey0001", "F" * 32)))
    store = '[store]\nkind = "file"\npath = "keys.toml"'
    procs = []
    try:
        p1, a1, p2, a2 = free_port(), free_port(), free_port(), free_port()
        (tmp / "edge.toml").write_text(small_config(p1, a1, upstream_port, store, listen_host="::", teams=TEAMS))
        (tmp / "behind.toml").write_text(small_config(
            p2, a2, upstream_port, store, teams=TEAMS, server_extra='trusted_proxies = ["127.0.0.1/32"]'))
        procs.append(Process(tmp / "edge.toml", p1, a1, upstream_port))
        procs.append(Process(tmp / "behind.toml", p2, a2, upstream_port))
        # The key sync service takes SIGHUP once it runs; give it a moment after start.
        time.sleep(0.5)
        yield procs[0], procs[1]
    finally:
        for p in procs:
            p.stop()
        upstream.terminate()
        upstream.wait(10)


def create(node, *args):
    return keys_json(node.cfg, "create", *args)


def oa(node, key, **kw):
    return openai.OpenAI(base_url=node.gw.base + "/v1", api_key=key, max_retries=0, timeout=10, **kw)


def an(node, key, **kw):
    return anthropic.Anthropic(base_url=node.gw.base, api_key=key, max_retries=0, timeout=10, **kw)


def chat(node, key, **kw):
    return oa(node, key).chat.completions.create(model="chat-a", messages=MSG, **kw)


def message(node, key, **kw):
    return an(node, key).messages.create(model="chat-a", max_tokens=50, messages=MSG, **kw)


def status(node, key, path="/v1/chat/completions", headers=None, body=None):
    """One raw request; (status, headers, json body)."""
    c = http.client.HTTPConnection("127.0.0.1", node.gw.port, timeout=10)
    h = {"authorization": f"Bearer {key}", "content-type": "application/json", **(headers or {})}
    if body is None and path != "/v1/models":
        body = json.dumps({"model": "chat-a", "messages": MSG})
    c.request("GET" if path == "/v1/models" else "POST", path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(data)


def wait_until(cond, timeout=3.0, step=0.02):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        time.sleep(step)
    raise AssertionError("condition not met in time")


# --- format -----------------------------------------------------------------------------------

def test_created_keys_have_the_documented_format(nodes):
    edge, _ = nodes
    live = create(edge, "--team", "it", "--scope", "chat")
    test = create(edge, "--team", "it", "--scope", "chat", "--test")
    for k, env in ((live, "live"), (test, "test")):
        key = k["key"]
        assert key.startswith(f"hm_{env}_{k['id']}_") and len(key) == 59
        assert well_formed(key), "the Python checksum disagrees with the gateway's"
        assert k["env"] == env and k["state"] == "active"
        assert key not in (edge.cfg.parent / "keys.toml").read_text(), "the key itself must never be stored"
    wait_until(lambda: status(edge, live["key"])[0] == 200)
    assert chat(edge, test["key"]).choices[0].message.content


def test_mistyped_keys_are_refused_before_any_lookup(nodes):
    edge, _ = nodes
    key = create(edge, "--team", "it", "--scope", "chat")["key"]
    wait_until(lambda: status(edge, key)[0] == 200)
    before = edge.gw.metrics()
    typo = key[:30] + ("a" if key[30] != "a" else "b") + key[31:]
    assert not well_formed(typo)
    assert status(edge, typo)[0] == 401
    after = edge.gw.metrics()
    assert metric(after, "stav_auth_failures_total", reason="malformed") - \
        metric(before, "stav_auth_failures_total", reason="malformed") == 1


# --- 401 ---------------------------------------------------------------------------------------

def test_every_bad_key_gets_the_same_401_in_both_sdks(nodes):
    edge, _ = nodes
    revoked = create(edge, "--team", "it", "--scope", "chat")
    keys_cli(edge.cfg, "revoke", revoked["id"])
    expired = create(edge, "--team", "it", "--scope", "chat", "--expires-in", "1s")
    known = create(edge, "--team", "it", "--scope", "chat")
    wrong_secret = make_key(known["id"], "S" * 32)
    time.sleep(1.2)
    wait_until(lambda: status(edge, revoked["key"])[0] == 401 and status(edge, known["key"])[0] == 200)
    cases = {
        "malformed": "sk-not-a-stav-key",
        "unknown": make_key("nosuchkey000", "U" * 32),
        "wrong secret": wrong_secret,
        "revoked": revoked["key"],
        "expired": expired["key"],
    }
    messages = set()
    for why, key in cases.items():
        with pytest.raises(openai.AuthenticationError) as e:
            chat(edge, key)
        assert e.value.status_code == 401 and e.value.code == "invalid_api_key", why
        messages.add(e.value.body["message"])
        with pytest.raises(anthropic.AuthenticationError) as e:
            message(edge, key)
        assert e.value.body["error"]["type"] == "authentication_error", why
        messages.add(e.value.body["error"]["message"])
    assert messages == {"Incorrect API key provided."}, "a refusal must not say why"
    # No key at all (SDKs refuse to send none; a raw client can).
    code, _, body = status(edge, "")
    assert code == 401 and "didn't provide an API key" in body["error"]["message"]


# --- 403 ---------------------------------------------------------------------------------------

def test_scopes_are_enforced_per_endpoint_in_both_sdks(nodes):
    edge, _ = nodes
    emb_only = create(edge, "--team", "it", "--scope", "embeddings")["key"]
    chat_only = create(edge, "--team", "it", "--scope", "chat")["key"]
    wait_until(lambda: status(edge, chat_only)[0] == 200)
    assert oa(edge, emb_only).embeddings.create(model="emb-a", input="x").data
    with pytest.raises(openai.PermissionDeniedError) as e:
        chat(edge, emb_only)
    assert "`chat` scope" in e.value.body["message"]
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        message(edge, emb_only)
    assert e.value.body["error"]["type"] == "permission_error"
    with pytest.raises(openai.PermissionDeniedError):
        oa(edge, chat_only).models.list()
    with pytest.raises(openai.PermissionDeniedError):
        oa(edge, chat_only).embeddings.create(model="emb-a", input="x")
    with pytest.raises(anthropic.PermissionDeniedError):
        an(edge, chat_only).messages.count_tokens(model="chat-a", messages=MSG)


def test_model_allowlist_in_both_sdks_and_in_the_model_list(nodes):
    edge, _ = nodes
    k = create(edge, "--team", "it", "--scope", "chat", "--scope", "models:read", "--model", "chat-a")["key"]
    wait_until(lambda: status(edge, k)[0] == 200)
    assert [m.id for m in oa(edge, k).models.list()] == ["chat-a"]
    with pytest.raises(openai.PermissionDeniedError) as e:
        oa(edge, k).chat.completions.create(model="chat-b", messages=MSG)
    assert e.value.body["message"] == "This API key may not use the model `chat-b`."
    with pytest.raises(anthropic.PermissionDeniedError):
        an(edge, k).messages.create(model="chat-b", max_tokens=5, messages=MSG)
    assert message(edge, k).content[0].text


def test_ip_allowlist_at_the_edge_and_behind_a_trusted_proxy(nodes):
    edge, behind = nodes
    # The edge listens on [::]: IPv4 clients arrive as ::ffff:127.0.0.1 and must still match.
    local = create(edge, "--team", "it", "--scope", "chat", "--allow-ip", "127.0.0.0/8")["key"]
    remote = create(edge, "--team", "it", "--scope", "chat", "--allow-ip", "203.0.113.0/24",
                    "--allow-ip", "2001:db8::/32")["key"]
    wait_until(lambda: status(edge, local)[0] == 200)
    assert chat(edge, local).choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError) as e:
        chat(edge, remote)
    assert "may not be used from 127.0.0.1" in e.value.body["message"]
    with pytest.raises(anthropic.PermissionDeniedError):
        message(edge, remote)
    # The edge trusts nobody: a forwarded-for header is the client's word and is ignored.
    assert status(edge, remote, headers={"x-forwarded-for": "203.0.113.7"})[0] == 403
    # Behind a trusted proxy, the rightmost untrusted hop is the client.
    wait_until(lambda: status(behind, local)[0] == 200 and status(behind, remote)[0] == 403)
    assert chat(behind, remote, extra_headers={"x-forwarded-for": "203.0.113.7"}).choices
    assert message(behind, remote, extra_headers={"x-forwarded-for": "2001:db8::9, 127.0.0.1"}).content
    # A client-typed address on the left does not help: the real client is the last hop.
    with pytest.raises(openai.PermissionDeniedError):
        chat(behind, remote, extra_headers={"x-forwarded-for": "203.0.113.7, 198.51.100.1"})
    # The local key, seen from a forwarded remote client, is outside its allowlist.
    with pytest.raises(openai.PermissionDeniedError):
        chat(behind, local, extra_headers={"x-forwarded-for": "198.51.100.1"})


# --- lifecycle ---------------------------------------------------------------------------------

def test_rotation_keeps_the_old_secret_for_the_grace_period(nodes):
    edge, _ = nodes
    old = create(edge, "--team", "it", "--scope", "chat")
    wait_until(lambda: status(edge, old["key"])[0] == 200)
    rotated = keys_json(edge.cfg, "rotate", old["id"], "--grace", "2s")
    new = rotated["key"]
    assert rotated["id"] == old["id"] and new != old["key"] and well_formed(new)
    wait_until(lambda: status(edge, new)[0] == 200)
    assert status(edge, old["key"])[0] == 200, "the old secret must work during the grace"
    assert keys_json(edge.cfg, "show", old["id"])["state"] == "expiring"
    assert an(edge, old["key"]).messages.create(model="chat-a", max_tokens=5, messages=MSG).content
    wait_until(lambda: status(edge, old["key"])[0] == 401, timeout=4)
    assert chat(edge, new).choices[0].message.content


def test_revocation_is_live_in_under_a_second(nodes):
    edge, behind = nodes
    k = create(edge, "--team", "it", "--scope", "chat")
    wait_until(lambda: status(edge, k["key"])[0] == 200 and status(behind, k["key"])[0] == 200)
    keys_cli(edge.cfg, "revoke", k["id"])
    took = wait_until(lambda: status(edge, k["key"])[0] == 401 and status(behind, k["key"])[0] == 401,
                      timeout=2, step=0.01)
    assert took < 1.0, f"revocation took {took:.2f} s"
    print(f"revocation refused by both gateways after {took:.3f} s")
    listed = {r["id"]: r for r in keys_json(edge.cfg, "list")}
    assert listed[k["id"]]["state"] == "revoked" and "key" not in listed[k["id"]]
    assert keys_cli(edge.cfg, "rotate", k["id"], "--grace", "1h", check=False).returncode == 2


def test_expiry(nodes):
    edge, _ = nodes
    k = create(edge, "--team", "it", "--scope", "chat", "--expires-in", "2s")["key"]
    wait_until(lambda: status(edge, k)[0] == 200)
    wait_until(lambda: status(edge, k)[0] == 401, timeout=4)


def test_cli_refuses_bad_input_naming_the_flag(nodes):
    edge, _ = nodes
    for args, flag in ((["--scope", "admin"], "--scope"), (["--scope", "chat", "--allow-ip", "10.0.0.0/99"], "--allow-ip"),
                       (["--scope", "chat", "--max-tier", "eu"], "--max-tier"),
                       (["--scope", "chat", "--expires-in", "soon"], "--expires-in"),
                       (["--scope", "chat", "--model", "bad model"], "models[0]")):
        r = keys_cli(edge.cfg, "create", "--team", "it", *args, check=False)
        assert r.returncode == 2 and flag in r.stderr, (args, r.stderr)
    r = keys_cli(edge.cfg, "show", "nosuchkey000", check=False)
    assert r.returncode == 2 and "no key" in r.stderr


# --- rate limits -------------------------------------------------------------------------------

def test_key_request_limit_is_a_429_with_headers_in_both_sdks(nodes):
    edge, _ = nodes
    k = create(edge, "--team", "it", "--scope", "chat", "--rpm", "3")["key"]
    wait_until(lambda: status(edge, "hm_live_" + "x" * 51)[0] == 401)  # the node is serving
    time.sleep(0.5)
    raw = oa(edge, k).chat.completions.with_raw_response.create(model="chat-a", messages=MSG)
    assert raw.headers["x-ratelimit-limit-requests"] == "3"
    assert raw.headers["x-ratelimit-remaining-requests"] == "2"
    chat(edge, k)
    message(edge, k)
    with pytest.raises(openai.RateLimitError) as e:
        chat(edge, k)
    h = e.value.response.headers
    assert int(h["retry-after"]) >= 1 and h["x-ratelimit-remaining-requests"] == "0"
    assert h["x-ratelimit-limit-requests"] == "3" and h["x-ratelimit-reset-requests"].endswith("s")
    assert e.value.body["code"] == "rate_limit_exceeded"
    with pytest.raises(anthropic.RateLimitError) as e:
        message(edge, k)
    assert e.value.body["error"]["type"] == "rate_limit_error"
    assert "retry-after" in e.value.response.headers


def test_team_limit_binds_across_keys(nodes):
    edge, _ = nodes
    a = create(edge, "--team", "shared", "--scope", "chat")["key"]
    b = create(edge, "--team", "shared", "--scope", "chat")["key"]
    wait_until(lambda: status(edge, make_key("nosuchkey001", "N" * 32))[0] == 401)
    time.sleep(0.5)
    codes = [status(edge, k)[0] for k in (a, b, a, b, a, b)]
    assert codes.count(200) == 4 and codes.count(429) == 2, codes
    refused = status(edge, a)
    assert "for this team" in refused[2]["error"]["message"]


def test_tokens_are_reserved_then_reconciled_from_usage(nodes):
    edge, _ = nodes
    k = create(edge, "--team", "it", "--scope", "chat", "--tpm", "3000")["key"]
    time.sleep(0.5)
    big = json.dumps({"model": "chat-a", "messages": MSG, "max_tokens": 2500})
    # A slow request holds ~2500 tokens while it runs...
    slow = threading.Thread(target=lambda: status(edge, k, body=big, headers={"x-script": "sleep-1500"}))
    slow.start()
    time.sleep(0.5)
    code, headers, body = status(edge, k, body=big)
    assert code == 429 and "tokens per minute" in body["error"]["message"], body
    assert headers["x-ratelimit-limit-tokens"] == "3000"
    slow.join()
    time.sleep(0.1)  # the correction is made as a request ends, just after its last byte
    # ...and gives back what it did not use (18 tokens of usage): the same request now fits,
    # streamed this time, and the stream's usage is reconciled as well.
    stream = oa(edge, k).chat.completions.create(model="chat-a", messages=MSG, max_tokens=2500, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    time.sleep(0.1)
    assert status(edge, k, body=big)[0] == 200


# --- reload ------------------------------------------------------------------------------------

def test_hot_reload_under_load_drops_no_request(nodes):
    edge, behind = nodes
    steady_record = create(edge, "--team", "it", "--scope", "chat")
    steady = steady_record["key"]
    wait_until(lambda: status(edge, steady)[0] == 200 and status(behind, steady)[0] == 200)
    stop = threading.Event()
    results = []

    def hammer(node):
        while not stop.is_set():
            try:
                c, _, b = status(node, steady)
                results.append(c if c == 200 else (node.gw.port, c, b))
            except Exception as e:  # a reset connection is a failure too
                results.append(repr(e))

    with ThreadPoolExecutor(4) as pool:
        for n in (edge, behind, edge, behind):
            pool.submit(hammer, n)
        created = []
        for i in range(6):
            created.append(create(edge, "--team", "it", "--scope", "chat")["key"])
            for n in (edge, behind):
                os.kill(n.proc.pid, signal.SIGHUP)
            time.sleep(0.15)
        # A broken file is refused: the old snapshot keeps serving.
        path = edge.cfg.parent / "keys.toml"
        good = path.read_text()
        path.write_text(good + "\n[[keys]]\nid = 'broken'\n")
        time.sleep(0.6)
        path.write_text(good)
        time.sleep(0.6)
        # An editor saving in place: truncate, write up to a record boundary (a valid file with
        # fewer keys), pause, write the rest. A reload mid-write would drop keys; the watcher
        # waits for the file to settle.
        cut = good.rindex("[[keys]]", 0, good.index(f'id = "{steady_record["id"]}"'))
        for _ in range(5):
            with open(path, "w") as f:
                f.write(good[:cut])
                f.flush()
                time.sleep(0.03)
                f.write(good[cut:])
            time.sleep(0.25)
        stop.set()
    failures = [r for r in results if r != 200]
    assert len(results) > 50 and not failures, (len(results), failures[:5])
    for k in created:
        assert status(edge, k)[0] == 200 and status(behind, k)[0] == 200
    m = edge.gw.metrics()
    assert metric(m, "stav_keystore_reloads_total", result="error") >= 1
    assert metric(m, "stav_keystore_keys", state="active") >= len(created) + 1
    assert "reloaded (SIGHUP)" in edge.gw.log()


def test_concurrent_cli_writers_lose_nothing(nodes):
    edge, _ = nodes
    before = {r["id"] for r in keys_json(edge.cfg, "list")}
    procs = [subprocess.Popen([str(edge.proc.args[0]), "keys", "--config", str(edge.cfg), "create", "--team", "it",
                               "--scope", "chat", "--json"], stdout=subprocess.PIPE, text=True) for _ in range(8)]
    made = {json.loads(p.communicate(timeout=30)[0])["id"] for p in procs}
    assert len(made) == 8
    after = {r["id"] for r in keys_json(edge.cfg, "list")}
    assert made <= after and before <= after, "a concurrent write was lost"
